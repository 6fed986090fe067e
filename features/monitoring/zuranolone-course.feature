Feature: The zuranolone course: baseline, length and follow-up
  Zuranolone is a 14-day course for postpartum depression. Its response is judged against a
  baseline score, the course must not run longer than 14 days, and a follow-up score after the
  course confirms response.

  Background:
    Given today is 2026-11-29

  @rule_precursor_symptom_baseline_zuranolone
  Scenario: Zuranolone ordered for postpartum depression with no baseline score
    Given a 29 year old woman
    And she has postpartum depression
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees an info card from rule "precursor-symptom-baseline-zuranolone"

  @rule_precursor_symptom_baseline_zuranolone
  Scenario: An EPDS last week is accepted as the baseline
    Given a 29 year old woman
    And she has postpartum depression
    And her EPDS score: 16 last week
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees no card from rule "precursor-symptom-baseline-zuranolone"

  @rule_zur_course_length
  Scenario: A 28-day supply of zuranolone
    Given a 29 year old woman
    And a draft order for zuranolone 50 mg once daily for 28 days
    When the clinician signs the draft order
    Then the clinician sees a warning card from rule "zur-course-length"
    And the card says "exceeds the 14-day course"

  @rule_zur_course_length
  Scenario: A 14-day supply is the labelled course
    Given a 29 year old woman
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician signs the draft order
    Then the clinician sees no card from rule "zur-course-length"

  @rule_zur_course_length_duration
  Scenario: Zuranolone still active 20 days after the first dose
    Given a 29 year old woman
    And she is prescribed zuranolone 50 mg once daily since 20 days ago
    When her chart is opened
    Then the clinician sees a warning card from rule "zur-course-length-duration"

  @rule_zur_course_length_duration
  Scenario: Day 10 of the course
    Given a 29 year old woman
    And she is prescribed zuranolone 50 mg once daily since 10 days ago
    When her chart is opened
    Then the clinician sees no card from rule "zur-course-length-duration"

  @rule_zur_post_course_followup
  Scenario: The course ended two weeks ago and no depression score has been recorded since
    Given a 29 year old woman
    And she completed a 14-day course of zuranolone 50 mg started 30 days ago
    And her EPDS score: 18 five weeks ago
    When her chart is opened
    Then the clinician sees an info card from rule "zur-post-course-followup"
    And the card suggests "PHQ-9"

  @rule_zur_post_course_followup
  Scenario: A PHQ-9 after the course
    Given a 29 year old woman
    And she completed a 14-day course of zuranolone 50 mg started 30 days ago
    And her PHQ-9 score: 6 last week
    When her chart is opened
    Then the clinician sees no card from rule "zur-post-course-followup"

  @rule_zur_post_course_followup
  Scenario: A course that ended two months ago is older than the follow-up window
    Given a 29 year old woman
    And she completed a 14-day course of zuranolone 50 mg started 75 days ago
    When her chart is opened
    Then the clinician sees no card from rule "zur-post-course-followup"
