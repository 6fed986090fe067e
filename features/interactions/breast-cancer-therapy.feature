Feature: DHEA with endocrine therapy for breast cancer
  Tamoxifen and fulvestrant block the estrogen receptor; aromatase inhibitors suppress estrogen
  production. DHEA is a precursor of estrogens and, in laboratory studies, DHEA-S overcame
  tamoxifen's effect. The combination should generally be avoided and discussed with oncology.
  The card appears when the chart is opened and when either drug is being ordered.

  Background:
    Given today is 2026-11-29

  @rule_dhea_serm
  Scenario Outline: DHEA with tamoxifen or fulvestrant
    Given a 55 year old woman
    And she is prescribed <drug> since 1 year ago
    And she reports taking "DHEA 25 mg daily" for 3 months
    When her chart is opened
    Then the clinician sees a warning card from rule "dhea-serm"
    And the card says "counteract estrogen-receptor blockade"
    And the card says "<drug>"

    Examples:
      | drug        |
      | tamoxifen   |
      | fulvestrant |

  @rule_dhea_serm
  Scenario: Tamoxifen ordered for a woman who takes DHEA
    Given a 48 year old woman
    And she reports taking "DHEA 25 mg daily" for 3 months
    And a draft order for tamoxifen 20 mg once daily
    When the clinician signs the draft order
    Then the clinician sees a warning card from rule "dhea-serm"

  @rule_dhea_serm
  Scenario: DHEA ordered for a woman on tamoxifen
    Given a 48 year old woman
    And she is prescribed tamoxifen 20 mg once daily since 2 years ago
    And a draft order for prasterone 25 mg once daily
    When the clinician selects the draft order
    Then the clinician sees a warning card from rule "dhea-serm"

  @rule_dhea_serm
  Scenario: Tamoxifen that was stopped does not count
    Given a 55 year old woman
    And she was prescribed tamoxifen but it was stopped
    And she reports taking "DHEA 25 mg daily" for 3 months
    When her chart is opened
    Then the clinician sees no card from rule "dhea-serm"

  @rule_dhea_serm
  Scenario: Signing an unrelated order does not repeat the tamoxifen card
    Given a 55 year old woman
    And she is prescribed tamoxifen since 1 year ago
    And she reports taking "DHEA 25 mg daily" for 3 months
    And a draft order for sertraline 50 mg once daily
    When the clinician signs the draft order
    Then the clinician sees no card from rule "dhea-serm"

  @rule_dhea_aromatase_inhibitor
  Scenario Outline: DHEA with an aromatase inhibitor
    Given a 63 year old woman
    And she is prescribed <drug> since 2 years ago
    And she reports taking "DHEA 25 mg daily" for 3 months
    When her chart is opened
    Then the clinician sees a warning card from rule "dhea-aromatase-inhibitor"
    And the card says "may undermine estrogen suppression"
    And the card says "<drug>"

    Examples:
      | drug        |
      | anastrozole |
      | letrozole   |
      | exemestane  |

  @rule_dhea_aromatase_inhibitor
  Scenario: Letrozole ordered for a woman who takes DHEA
    Given a 63 year old woman
    And she reports taking "DHEA 25 mg daily" for 3 months
    And a draft order for letrozole 2.5 mg once daily
    When the clinician signs the draft order
    Then the clinician sees a warning card from rule "dhea-aromatase-inhibitor"

  @rule_dhea_aromatase_inhibitor
  Scenario: An aromatase inhibitor that was stopped does not count
    Given a 63 year old woman
    And she was prescribed anastrozole but it was stopped
    And she reports taking "DHEA 25 mg daily" for 3 months
    When her chart is opened
    Then the clinician sees no card from rule "dhea-aromatase-inhibitor"

  @rule_dhea_aromatase_inhibitor @rule_dhea_serm
  Scenario: Tamoxifen is not an aromatase inhibitor
    Given a 63 year old woman
    And she is prescribed tamoxifen since 2 years ago
    And she reports taking "DHEA 25 mg daily" for 3 months
    When her chart is opened
    Then the clinician sees no card from rule "dhea-aromatase-inhibitor"
    But the clinician sees a warning card from rule "dhea-serm"

  @rule_dhea_aromatase_inhibitor
  Scenario: Pregnenolone with an aromatase inhibitor is not covered by this DHEA rule
    Given a 63 year old woman
    And she is prescribed anastrozole since 2 years ago
    And she reports taking "Pregnenolone 50 mg daily" for 3 months
    When her chart is opened
    Then the clinician sees no card from rule "dhea-aromatase-inhibitor"
