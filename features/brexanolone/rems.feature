Feature: Brexanolone boxed warning and product withdrawal
  FDA withdrew approval of Zulresso (brexanolone) effective 14 April 2025; only remaining stock can
  be used. Any brexanolone order, or the chart of a patient receiving it, shows the boxed warning
  (excessive sedation and sudden loss of consciousness): REMS-certified setting, continuous pulse
  oximetry, sedation checks every 2 hours while awake. Every brexanolone card says the product
  was withdrawn.

  Background:
    Given today is 2026-11-29

  @rule_brex_rems
  Scenario: Brexanolone ordered from remaining stock
    Given a 30 year old woman
    And a draft order for brexanolone
    When the clinician selects the draft order
    Then the clinician sees a warning card from rule "brex-rems"
    And the card says "NDA withdrawn 2025"
    And the card says "FDA withdrew approval of Zulresso (brexanolone)"
    And the card says "14 Apr 2025"
    And the card says "only remaining stock can be used"
    And the card says "continuous pulse oximetry"
    And the card says "every 2 h while awake"

  @rule_brex_rems
  Scenario: The warning is shown again when the order is signed
    Given a 30 year old woman
    And a draft order for brexanolone
    When the clinician signs the draft order
    Then the clinician sees a warning card from rule "brex-rems"
    And the card says "REMS-certified"

  @rule_brex_rems
  Scenario: Opening the chart during the 60-hour infusion
    Given a 30 year old woman
    And she is receiving a brexanolone infusion started yesterday
    When her chart is opened
    Then the clinician sees a warning card from rule "brex-rems"
    And the card says "withdrew approval"

  @rule_brex_rems
  Scenario: A brexanolone infusion that was stopped
    Given a 30 year old woman
    And she was prescribed brexanolone but it was stopped
    When her chart is opened
    Then the clinician sees no cards

  @rule_brex_rems
  Scenario: Signing an unrelated order during the infusion
    Given a 30 year old woman
    And she is receiving a brexanolone infusion started yesterday
    And a draft order for acetaminophen (RxNorm 161) 500 mg three times daily
    When the clinician signs the draft order
    Then the clinician sees no card from rule "brex-rems"
