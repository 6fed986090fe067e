Feature: Prasterone vaginal insert (Intrarosa) label warnings
  The vaginal insert is a prescribed product for painful intercourse after menopause. Its label
  contraindicates it in undiagnosed abnormal genital bleeding and warns about a current or past
  breast cancer (estrogen is a metabolite). It is not "DHEA self-medication": the systemic DHEA
  rules do not apply to it.

  Background:
    Given today is 2026-11-29

  @rule_prasterone_vaginal
  Scenario: Intrarosa ordered for a breast cancer survivor
    Given a 59 year old woman
    And she had breast cancer, now in remission
    And a draft order for prasterone vaginal
    When the clinician signs the draft order
    Then the clinician sees a warning card from rule "prasterone-vaginal"
    And the card says "breast cancer history"
    And the card says "status: remission"

  @rule_prasterone_vaginal
  Scenario: Intrarosa selected for a woman with active breast cancer
    Given a 62 year old woman
    And she has breast cancer since 8 months ago
    And a draft order for prasterone vaginal
    When the clinician selects the draft order
    Then the clinician sees a warning card from rule "prasterone-vaginal"

  @rule_prasterone_vaginal
  Scenario: A woman already using Intrarosa is diagnosed with breast cancer
    Given a 60 year old woman
    And she is prescribed prasterone vaginal since 1 year ago
    And she has breast cancer since 2 weeks ago
    When her chart is opened
    Then the clinician sees a warning card from rule "prasterone-vaginal"
    And the clinician sees no card from rule "dhea-hormone-cancer"

  @rule_prasterone_vaginal
  Scenario: Intrarosa without any breast cancer history raises no warning
    Given a 59 year old woman
    And a draft order for prasterone vaginal
    When the clinician signs the draft order
    Then the clinician sees no cards

  @rule_prasterone_vaginal @rule_dhea_hormone_cancer
  Scenario: Oral DHEA with a breast cancer history is the DHEA warning, not the insert warning
    Given a 59 year old woman
    And she had breast cancer, now in remission
    And she reports taking "DHEA 25 mg daily" for 3 months
    When her chart is opened
    Then the clinician sees no card from rule "prasterone-vaginal"
    But the clinician sees a warning card from rule "dhea-hormone-cancer"

  @rule_prasterone_vaginal_bleeding
  Scenario Outline: Intrarosa ordered for a woman with unexplained bleeding
    Given a 61 year old woman
    And she has <bleeding> since 3 weeks ago
    And a draft order for prasterone vaginal
    When the clinician signs the draft order
    Then the clinician sees a warning card from rule "prasterone-vaginal-bleeding"
    And the card says "contraindicated unless the cause has been diagnosed"
    And the card says "<bleeding>"

    Examples:
      | bleeding                  |
      | Postmenopausal bleeding   |
      | abnormal uterine bleeding |

  @rule_prasterone_vaginal_bleeding
  Scenario: Bleeding that has resolved does not block the insert
    Given a 61 year old woman
    And she had Postmenopausal bleeding, now resolved
    And a draft order for prasterone vaginal
    When the clinician signs the draft order
    Then the clinician sees no card from rule "prasterone-vaginal-bleeding"

  @rule_prasterone_vaginal_bleeding
  Scenario: Oral DHEA with bleeding is not the insert contraindication
    Given a 61 year old woman
    And she has Postmenopausal bleeding since 3 weeks ago
    And she reports taking "DHEA 25 mg daily" for 3 months
    When her chart is opened
    Then the clinician sees no card from rule "prasterone-vaginal-bleeding"
