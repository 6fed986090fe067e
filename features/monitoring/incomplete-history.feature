Feature: Monitoring when the patient's history could not be retrieved in full
  Some monitoring cards are about something missing from the record: no baseline DHEA-S, no
  recheck, no PHQ-9 before a supplement taken for depression. The service can only say a result is
  missing when the EHR returned the whole history. When the lab, medication or questionnaire history
  could not be retrieved in full (the EHR's search stopped after the first page, its query failed,
  or it did not send that history at all), these rules stay silent rather than ask for a test that
  may already have been done. Cards about what is in the record still show, with a data note
  saying what could not be checked.

  Background:
    Given today is 2026-11-29

  @rule_dhea_recheck_due
  Scenario: Ten months of DHEA with only the baseline level in a complete lab history
    Given a 58 year old woman
    And she reports taking "DHEA 50 mg daily" for 10 months
    And her DHEA-S results: 180 µg/dL eleven months ago
    When her chart is opened
    Then the clinician sees an info card from rule "dhea-recheck-due"

  @rule_dhea_recheck_due
  Scenario: The same ten months of DHEA, but the lab search stopped after the first page
    Given a 58 year old woman
    And she reports taking "DHEA 50 mg daily" for 10 months
    And her DHEA-S results: 180 µg/dL eleven months ago
    But her lab history could not be retrieved in full: the EHR's search stopped after the first page
    When her chart is opened
    Then the clinician sees no card from rule "dhea-recheck-due"

  @rule_dhea_baseline_labs
  Scenario: DHEA started ten days ago and no DHEA-S in a complete lab history
    Given a 52 year old woman
    And she reports taking "DHEA 25 mg daily" for 10 days
    When her chart is opened
    Then the clinician sees an info card from rule "dhea-baseline-labs"

  @rule_dhea_baseline_labs
  Scenario Outline: DHEA started ten days ago, but the lab history could not be retrieved in full
    Given a 52 year old woman
    And she reports taking "DHEA 25 mg daily" for 10 days
    But her lab history could not be retrieved in full: <what happened>
    When her chart is opened
    Then the clinician sees no card from rule "dhea-baseline-labs"

    Examples:
      | what happened                                 |
      | the EHR's search stopped after the first page |
      | the EHR's query failed                        |
      | the EHR did not send it                       |

  @rule_precursor_symptom_baseline
  Scenario: DHEA for depression with no PHQ-9 in a complete questionnaire history
    Given a 50 year old woman
    And she has depressive disorder
    And she reports taking "DHEA 25 mg daily" for 1 month
    When her chart is opened
    Then the clinician sees an info card from rule "precursor-symptom-baseline"

  @rule_precursor_symptom_baseline
  Scenario: DHEA for depression, but the questionnaire history could not be retrieved in full
    Given a 50 year old woman
    And she has depressive disorder
    And she reports taking "DHEA 25 mg daily" for 1 month
    But her questionnaire history could not be retrieved in full: the EHR's search stopped after the first page
    When her chart is opened
    Then the clinician sees no card from rule "precursor-symptom-baseline"

  @rule_dhea_recheck_due @rule_dhea_trial_review
  Scenario: Eight months of DHEA and no DHEA-S in complete histories: a recheck and a benefit review
    Given a 61 year old woman
    And she reports taking "DHEA 25 mg daily" for 8 months
    When her chart is opened
    Then the clinician sees an info card from rule "dhea-recheck-due"
    And the clinician sees an info card from rule "dhea-trial-review"

  @rule_dhea_recheck_due @rule_dhea_trial_review
  Scenario: Eight months of DHEA, but the medication search stopped after the first page
    Given a 61 year old woman
    And she reports taking "DHEA 25 mg daily" for 8 months
    But her medication history could not be retrieved in full: the EHR's search stopped after the first page
    When her chart is opened
    Then the clinician sees no card from rule "dhea-recheck-due"
    And the clinician sees an info card from rule "dhea-trial-review"
    And the card says "The medication history was incomplete, so the episode length shown may be too short."
