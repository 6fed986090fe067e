Feature: Zuranolone dose context: renal and hepatic impairment, patients under 18
  The label dose of zuranolone is 50 mg once daily in the evening for 14 days. In moderate or
  severe renal impairment (eGFR below 60) and in severe hepatic impairment (Child-Pugh C) it is
  30 mg: an order above 30 mg a day gets a warning with a dose change to suggest. Zuranolone is
  indicated for adults; use under 18 has not been studied.

  Background:
    Given today is 2026-11-29

  # -- renal impairment ------------------------------------------------------------------------

  @rule_zur_dose_context
  Scenario: Zuranolone ordered for a patient with an eGFR of 45
    Given a 36 year old woman
    And her eGFR is 45 mL/min/1.73 m2, measured 2 weeks ago
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees a warning card from rule "zur-dose-context"
    And the card says "label dose is 30 mg once daily in the evening"
    And the card says "45 mL/min/1.73 m2 on 2026-11-15"
    And the card says "50 mg/day"
    And the card suggests "Change zuranolone to 30 mg once daily in the evening"

  @rule_zur_dose_context
  Scenario: Zuranolone already ordered at the renal dose
    Given a 36 year old woman
    And her eGFR is 45 mL/min/1.73 m2, measured 2 weeks ago
    And a draft order for zuranolone 30 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees no card from rule "zur-dose-context"

  @rule_zur_dose_context
  Scenario Outline: eGFR of <egfr> does not call for a lower dose
    Given a 36 year old woman
    And her eGFR is <egfr> mL/min/1.73 m2, measured 2 weeks ago
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees no card from rule "zur-dose-context"

    Examples:
      | egfr |
      | 60   |
      | 65   |

  @rule_zur_dose_context
  Scenario: Only the latest eGFR counts
    Given a 36 year old woman
    And her eGFR is 48 mL/min/1.73 m2, measured 5 months ago
    And her eGFR is 72 mL/min/1.73 m2, measured 1 week ago
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees no card from rule "zur-dose-context"

  @rule_zur_dose_context
  Scenario: An eGFR older than 12 months is not used
    Given a 36 year old woman
    And her eGFR is 45 mL/min/1.73 m2, measured 14 months ago
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees no card from rule "zur-dose-context"

  # -- severe hepatic impairment ---------------------------------------------------------------

  @rule_zur_dose_context_hepatic
  Scenario: Zuranolone ordered for a patient with Child-Pugh C cirrhosis
    Given a 38 year old woman
    And she has Child-Pugh class C
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees a warning card from rule "zur-dose-context-hepatic"
    And the card says "severe hepatic impairment"
    And the card says "30 mg once daily in the evening"
    And the card suggests "Change zuranolone to 30 mg once daily in the evening"

  @rule_zur_dose_context_hepatic
  Scenario: Zuranolone already ordered at the dose for severe hepatic impairment
    Given a 38 year old woman
    And she has Child-Pugh class C
    And a draft order for zuranolone 30 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees no card from rule "zur-dose-context-hepatic"

  @rule_zur_dose_context_hepatic
  Scenario: Opening the chart of a patient with hepatic failure on zuranolone
    Given a 38 year old woman
    And she is prescribed zuranolone 50 mg once daily since 2 days ago
    And she has hepatic failure, not elsewhere classified
    When her chart is opened
    Then the clinician sees a warning card from rule "zur-dose-context-hepatic"

  @rule_zur_dose_context_hepatic
  Scenario: Liver disease that is not severe needs no dose change
    Given a 38 year old woman
    And she has alcoholic liver disease
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees no card from rule "zur-dose-context-hepatic"

  # -- patients under 18 -----------------------------------------------------------------------

  @rule_zur_dose_context_minor
  Scenario: Zuranolone ordered for a 17 year old
    Given a 17 year old girl
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees an info card from rule "zur-dose-context-minor"
    And the card says "pediatric patients have not been established"
    And the card says "aged 17"

  @rule_zur_dose_context_minor
  Scenario: An 18 year old is an adult
    Given an 18 year old woman
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees no card from rule "zur-dose-context-minor"
