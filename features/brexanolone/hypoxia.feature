Feature: Hypoxia during a brexanolone infusion
  The label says to stop a brexanolone infusion for hypoxia and not to resume it. The label gives
  no number: this service uses a local threshold of SpO2 below 90%, on the latest reading of the
  last day. The card is critical.

  Background:
    Given today is 2026-11-29

  @rule_brex_hypoxia
  Scenario: SpO2 of 87% during the infusion
    Given a 30 year old woman
    And she is receiving a brexanolone infusion started yesterday
    And her SpO2 is 87% on pulse oximetry, measured today
    When her chart is opened
    Then the clinician sees a critical card from rule "brex-hypoxia"
    And the card says "stop the infusion immediately and do not resume"
    And the card says "87"
    And the card says "withdrew approval"

  @rule_brex_hypoxia
  Scenario: SpO2 of 89% is below the threshold
    Given a 30 year old woman
    And she is receiving a brexanolone infusion started yesterday
    And her SpO2 is 89% on pulse oximetry, measured today
    When her chart is opened
    Then the clinician sees a critical card from rule "brex-hypoxia"

  @rule_brex_hypoxia
  Scenario: Brexanolone ordered for a patient whose SpO2 is already low
    Given a 30 year old woman
    And her SpO2 is 86% on pulse oximetry, measured today
    And a draft order for brexanolone
    When the clinician selects the draft order
    Then the clinician sees a critical card from rule "brex-hypoxia"

  @rule_brex_hypoxia
  Scenario Outline: SpO2 of <spo2>% is not below the threshold
    Given a 30 year old woman
    And she is receiving a brexanolone infusion started yesterday
    And her SpO2 is <spo2>% on pulse oximetry, measured today
    When her chart is opened
    Then the clinician sees no card from rule "brex-hypoxia"
    And the clinician sees a warning card from rule "brex-rems"

    Examples:
      | spo2 |
      | 90   |
      | 91   |
      | 97   |

  @rule_brex_hypoxia
  Scenario: A normal reading today replaces yesterday's low reading
    Given a 30 year old woman
    And she is receiving a brexanolone infusion started 2 days ago
    And her SpO2 is 88% on pulse oximetry, measured yesterday
    And her SpO2 is 96% on pulse oximetry, measured today
    When her chart is opened
    Then the clinician sees no card from rule "brex-hypoxia"

  @rule_brex_hypoxia
  Scenario: A low reading from two days ago is not used
    Given a 30 year old woman
    And she is receiving a brexanolone infusion started 3 days ago
    And her SpO2 is 87% on pulse oximetry, measured 2 days ago
    When her chart is opened
    Then the clinician sees no card from rule "brex-hypoxia"

  @rule_brex_hypoxia
  Scenario: Low SpO2 without brexanolone
    Given a 30 year old woman
    And she was prescribed brexanolone but it was stopped
    And her SpO2 is 87% on pulse oximetry, measured today
    When her chart is opened
    Then the clinician sees no cards
