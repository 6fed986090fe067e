Feature: DHEA in a patient with bipolar disorder or on a mood stabiliser
  Mania, some cases needing admission, has been reported with DHEA at 50-300 mg a day; a history
  of mood disorder is a suggested risk factor. When no bipolar diagnosis is coded, a mood
  stabiliser (lithium, valproate, lamotrigine) is taken as a hint of one.

  Background:
    Given today is 2026-11-29

  @rule_dhea_bipolar
  Scenario: A man with bipolar disorder takes DHEA
    Given a 42 year old man
    And he has bipolar disorder since 10 years ago
    And he reports taking "DHEA 100 mg daily" for 6 weeks
    When his chart is opened
    Then the clinician sees a warning card from rule "dhea-bipolar"
    And the card says "Mania has been reported with DHEA"
    And the card says "bipolar disorder"

  @rule_dhea_bipolar
  Scenario: DHEA ordered for a woman with bipolar disorder is checked at signing
    Given a 39 year old woman
    And she has bipolar disorder since 8 years ago
    And a draft order for prasterone 50 mg once daily
    When the clinician signs the draft order
    Then the clinician sees a warning card from rule "dhea-bipolar"

  @rule_dhea_bipolar
  Scenario: Bipolar disorder that was ruled out does not count
    Given a 42 year old man
    And bipolar disorder was ruled out
    And he reports taking "DHEA 100 mg daily" for 6 weeks
    When his chart is opened
    Then the clinician sees no card from rule "dhea-bipolar"

  @rule_dhea_bipolar @rule_dhea_bipolar_proxy
  Scenario: With bipolar disorder coded, the diagnosis card replaces the mood-stabiliser card
    Given a 42 year old man
    And he has bipolar disorder since 10 years ago
    And he is prescribed lithium carbonate 300 mg twice daily since 5 years ago
    And he reports taking "DHEA 100 mg daily" for 6 weeks
    When his chart is opened
    Then the clinician sees a warning card from rule "dhea-bipolar"
    And the clinician sees no card from rule "dhea-bipolar-proxy"

  @rule_dhea_bipolar_proxy
  Scenario Outline: DHEA with a mood stabiliser and no bipolar diagnosis coded
    Given a 45 year old woman
    And she is prescribed <drug> since 2 years ago
    And she reports taking "DHEA 50 mg daily" for 3 months
    When her chart is opened
    Then the clinician sees a warning card from rule "dhea-bipolar-proxy"
    And the card says "on a mood stabilizer"
    And the card says "<drug>"

    Examples:
      | drug              |
      | lithium           |
      | lithium carbonate |
      | valproic acid     |
      | lamotrigine       |

  @rule_dhea_bipolar_proxy
  Scenario: Lithium ordered for a patient who takes DHEA is checked at signing
    Given a 45 year old woman
    And she reports taking "DHEA 50 mg daily" for 3 months
    And a draft order for lithium carbonate 300 mg twice daily
    When the clinician signs the draft order
    Then the clinician sees a warning card from rule "dhea-bipolar-proxy"

  @rule_dhea_bipolar_proxy
  Scenario: A mood stabiliser that was stopped is no longer a hint
    Given a 45 year old woman
    And she was prescribed lithium but it was stopped
    And she reports taking "DHEA 50 mg daily" for 3 months
    When her chart is opened
    Then the clinician sees no card from rule "dhea-bipolar-proxy"

  @rule_dhea_bipolar_proxy
  Scenario: Another antiseizure drug is not a mood stabiliser for this rule
    Given a 45 year old woman
    And she is prescribed levetiracetam since 2 years ago
    And she reports taking "DHEA 50 mg daily" for 3 months
    When her chart is opened
    Then the clinician sees no card from rule "dhea-bipolar-proxy"
