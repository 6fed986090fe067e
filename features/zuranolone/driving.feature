Feature: Zuranolone boxed warning on driving
  ZURZUVAE (zuranolone) impairs the ability to drive, and patients may not notice it. Whenever
  zuranolone is ordered, or the chart of a patient taking it is opened, the clinician is reminded
  to counsel: no driving or hazardous activity until at least 12 hours after each dose, for the
  whole 14-day course.

  Background:
    Given today is 2026-11-29

  @rule_zur_driving
  Scenario: Zuranolone ordered for postpartum depression
    Given a 31 year old woman
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees a warning card from rule "zur-driving"
    And the card says "no driving or hazardous activity"
    And the card says "at least 12 hours after each"

  @rule_zur_driving
  Scenario: The warning is shown again when the order is signed
    Given a 31 year old woman
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician signs the draft order
    Then the clinician sees a warning card from rule "zur-driving"

  @rule_zur_driving
  Scenario: Chart of a patient in the middle of her zuranolone course
    Given a 31 year old woman
    And she is prescribed zuranolone 50 mg once daily since 5 days ago
    When her chart is opened
    Then the clinician sees a warning card from rule "zur-driving"
    And the card says "14-day course"

  @rule_zur_driving
  Scenario: A finished zuranolone course no longer triggers the warning
    Given a 40 year old man
    And he was prescribed zuranolone but it was stopped
    When his chart is opened
    Then the clinician sees no cards

  @rule_zur_driving
  Scenario: Signing an unrelated order does not repeat the zuranolone warning
    Given a 31 year old woman
    And she is prescribed zuranolone 50 mg once daily since 5 days ago
    And a draft order for ibuprofen (RxNorm 5640) 400 mg three times daily
    When the clinician signs the draft order
    Then the clinician sees no card from rule "zur-driving"
