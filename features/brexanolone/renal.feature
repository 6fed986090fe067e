Feature: Brexanolone in end-stage renal disease
  Brexanolone's solubiliser (betadex sulfobutyl ether sodium) may accumulate when the eGFR is below
  15 mL/min/1.73 m2; the label advises avoiding use. The latest eGFR of the last 12 months counts.
  The product was withdrawn in 2025.

  Background:
    Given today is 2026-11-29

  @rule_brex_renal
  Scenario: Brexanolone ordered for a patient with an eGFR of 12
    Given a 30 year old woman
    And her eGFR is 12 mL/min/1.73 m2, measured 3 weeks ago
    And a draft order for brexanolone
    When the clinician selects the draft order
    Then the clinician sees a warning card from rule "brex-renal"
    And the card says "label advises avoiding use"
    And the card says "latest eGFR 12"
    And the card says "NDA withdrawn 2025"

  @rule_brex_renal
  Scenario: Opening the chart during an infusion with eGFR of 14
    Given a 30 year old woman
    And she is receiving a brexanolone infusion started yesterday
    And her eGFR is 14 mL/min/1.73 m2, measured today
    When her chart is opened
    Then the clinician sees a warning card from rule "brex-renal"

  @rule_brex_renal
  Scenario Outline: eGFR of <egfr> is not end-stage renal disease
    Given a 30 year old woman
    And her eGFR is <egfr> mL/min/1.73 m2, measured 3 weeks ago
    And a draft order for brexanolone
    When the clinician selects the draft order
    Then the clinician sees no card from rule "brex-renal"

    Examples:
      | egfr |
      | 15   |
      | 22   |
      | 65   |

  @rule_brex_renal
  Scenario: An eGFR older than 12 months is not used
    Given a 30 year old woman
    And her eGFR is 12 mL/min/1.73 m2, measured 14 months ago
    And a draft order for brexanolone
    When the clinician selects the draft order
    Then the clinician sees no card from rule "brex-renal"
