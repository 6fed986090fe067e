Feature: DHEA taken without a clinician's oversight
  Patients buy DHEA over the counter to "optimise" their hormones. When a patient reports DHEA
  and no clinician has ordered it, the clinician opening the chart should be prompted to review
  why, how much, which product, and how it is monitored.

  Background:
    Given today is 2026-11-29

  @rule_dhea_unsupervised
  Scenario: A woman reports taking DHEA on her own
    Given a 45 year old woman
    And she reports taking "DHEA 50 mg daily" for 8 months
    When her chart is opened
    Then the clinician sees an info card from rule "dhea-unsupervised"
    And the card says "without a documented prescriber"
    And the card says "DHEA 50 mg daily"

  @rule_dhea_unsupervised
  Scenario Outline: DHEA is recognised under its other names
    Given a 60 year old man
    And he reports taking "<product>" for 2 months
    When his chart is opened
    Then the clinician sees an info card from rule "dhea-unsupervised"
    And the card says "<product>"

    Examples:
      | product                      |
      | Dehydroepiandrosterone 25 mg |
      | Prasterone 10 mg capsules    |
      | Micronized DHEA 100 mg       |

  @rule_dhea_unsupervised
  Scenario: DHEA prescribed by her endocrinologist is not unsupervised
    Given a 45 year old woman
    And she reports taking "DHEA 25 mg daily" for 8 months
    And she is prescribed prasterone 25 mg once daily since 8 months ago
    When her chart is opened
    Then the clinician sees no card from rule "dhea-unsupervised"

  @rule_dhea_unsupervised
  Scenario: DHEA she stopped last month is not flagged
    Given a 45 year old woman
    And she reported taking "DHEA 50 mg daily" but stopped last month
    When her chart is opened
    Then the clinician sees no cards

  @rule_dhea_unsupervised
  Scenario: 7-keto-DHEA is a different compound
    Given a 45 year old woman
    And she reports taking "7-keto DHEA 100 mg" for 3 months
    When her chart is opened
    Then the clinician sees no card from rule "dhea-unsupervised"

  @rule_dhea_unsupervised
  Scenario: Ordering DHEA for her puts it under a prescriber
    Given a 45 year old woman
    And she reports taking "DHEA 25 mg daily" for 8 months
    And a draft order for prasterone 25 mg once daily
    When the clinician signs the draft order
    Then the clinician sees no card from rule "dhea-unsupervised"

  @rule_dhea_unsupervised
  Scenario: Signing an unrelated order does not repeat the chart-opening reminder
    Given a 45 year old woman
    And she reports taking "DHEA 50 mg daily" for 8 months
    And a draft order for metformin 500 mg twice daily
    When the clinician signs the draft order
    Then the clinician sees no card from rule "dhea-unsupervised"

  @rule_dhea_unsupervised
  Scenario: DHEA she reports taking as prescribed elsewhere is not unsupervised
    Given a 45 year old woman
    And she reports taking "DHEA 25 mg daily" as prescribed for 8 months
    When her chart is opened
    Then the clinician sees no card from rule "dhea-unsupervised"
