Feature: Zuranolone in a patient with suicidal ideation or behaviour
  Zuranolone carries the antidepressant warning on suicidal thoughts and behaviours. A record of
  suicidal ideation or a suicide attempt counts whatever its clinical status: a past attempt is
  history that matters. A diagnosis that was ruled out does not count.

  Background:
    Given today is 2026-11-29

  @rule_zur_suicidality
  Scenario: Zuranolone ordered for a patient with suicidal thoughts
    Given a 27 year old woman
    And she has suicidal thoughts since 2 weeks ago
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees a warning card from rule "zur-suicidality"
    And the card says "Monitor closely"
    And the card says "safety plan"

  @rule_zur_suicidality
  Scenario: A suicide attempt years ago still counts
    Given a 27 year old woman
    And she attempted suicide 6 years ago, recorded as resolved
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician signs the draft order
    Then the clinician sees a warning card from rule "zur-suicidality"
    And the card says "resolved"

  @rule_zur_suicidality
  Scenario: Opening the chart of a patient on zuranolone with suicidal ideation
    Given a 27 year old woman
    And she is prescribed zuranolone 50 mg once daily since 4 days ago
    And she has suicidal ideation
    When her chart is opened
    Then the clinician sees a warning card from rule "zur-suicidality"

  @rule_zur_suicidality
  Scenario: Suicidal ideation that was ruled out
    Given a 27 year old woman
    And suicidal ideation was ruled out
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees no card from rule "zur-suicidality"

  @rule_zur_suicidality
  Scenario: Suicidal ideation in a patient whose zuranolone course has ended
    Given a 27 year old woman
    And she has suicidal ideation
    And she was prescribed zuranolone but it was stopped
    When her chart is opened
    Then the clinician sees no card from rule "zur-suicidality"
