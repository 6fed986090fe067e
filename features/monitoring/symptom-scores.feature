Feature: Symptom scores for patients treated with neurosteroid precursors
  Evidence that DHEA or pregnenolone relieves depression, anxiety or insomnia is weak, so a measured
  baseline matters, and a clinically important worsening after the start deserves a review. A
  positive answer to PHQ-9 question 9 in a patient on any neurosteroid needs a suicide risk
  assessment the same day.

  Background:
    Given today is 2026-11-29

  @rule_precursor_symptom_baseline
  Scenario: DHEA for depression with no PHQ-9 on record
    Given a 50 year old woman
    And she has depressive disorder
    And she reports taking "DHEA 25 mg daily" for 1 month
    When her chart is opened
    Then the clinician sees an info card from rule "precursor-symptom-baseline"
    And the card suggests "PHQ-9"

  @rule_precursor_symptom_baseline
  Scenario: A PHQ-9 two months ago is her baseline
    Given a 50 year old woman
    And she has depressive disorder
    And she reports taking "DHEA 25 mg daily" for 1 month
    And her PHQ-9 score: 12 two months ago
    When her chart is opened
    Then the clinician sees no card from rule "precursor-symptom-baseline"

  @rule_precursor_symptom_baseline_anxiety
  Scenario: Pregnenolone for anxiety with no GAD-7 on record
    Given a 36 year old woman
    And she has anxiety disorder
    And she reports taking "Pregnenolone 50 mg daily" for 3 weeks
    When her chart is opened
    Then the clinician sees an info card from rule "precursor-symptom-baseline-anxiety"
    And the card suggests "GAD-7"

  @rule_precursor_symptom_baseline_anxiety
  Scenario: A GAD-7 taken three months ago counts as the baseline
    Given a 36 year old woman
    And she has anxiety disorder
    And she reports taking "Pregnenolone 50 mg daily" for 3 weeks
    And her GAD-7 score: 11 three months ago
    When her chart is opened
    Then the clinician sees no card from rule "precursor-symptom-baseline-anxiety"

  @rule_precursor_mood_worsening
  Scenario: PHQ-9 rose from 8 to 14 since DHEA began
    Given a 45 year old woman
    And she reports taking "DHEA 50 mg daily" for 4 months
    And her PHQ-9 scores: 8 five months ago, 14 last week
    When her chart is opened
    Then the clinician sees a warning card from rule "precursor-mood-worsening"
    And the card says "consider stopping"

  @rule_precursor_mood_worsening
  Scenario: The questionnaire improved
    Given a 45 year old woman
    And she reports taking "DHEA 50 mg daily" for 4 months
    And her PHQ-9 scores: 14 five months ago, 8 last week
    When her chart is opened
    Then the clinician sees no card from rule "precursor-mood-worsening"

  @rule_precursor_mood_worsening_gad7
  Scenario: GAD-7 rose from 5 to 10 since pregnenolone began
    Given a 39 year old woman
    And she reports taking "Pregnenolone 30 mg daily" for 4 months
    And her GAD-7 scores: 5 five months ago, 10 last week
    When her chart is opened
    Then the clinician sees a warning card from rule "precursor-mood-worsening-gad7"

  @rule_precursor_mood_worsening_gad7
  Scenario: A three-point GAD-7 rise is below the clinically important difference
    Given a 39 year old woman
    And she reports taking "Pregnenolone 30 mg daily" for 4 months
    And her GAD-7 scores: 5 five months ago, 8 last week
    When her chart is opened
    Then the clinician sees no card from rule "precursor-mood-worsening-gad7"

  @rule_precursor_mood_worsening_severe
  Scenario: A PHQ-9 of 22 on DHEA with no score from before the start
    Given a 45 year old woman
    And she reports taking "DHEA 50 mg daily" for 4 months
    And her PHQ-9 score: 22 last week
    When her chart is opened
    Then the clinician sees a warning card from rule "precursor-mood-worsening-severe"

  @rule_precursor_mood_worsening_severe
  Scenario: A PHQ-9 of 22 with a baseline of 19 is judged by the change, which is small
    Given a 45 year old woman
    And she reports taking "DHEA 50 mg daily" for 4 months
    And her PHQ-9 scores: 19 five months ago, 22 last week
    When her chart is opened
    Then the clinician sees no card from rule "precursor-mood-worsening-severe"
    And the clinician sees no card from rule "precursor-mood-worsening"

  @rule_precursor_sleep_worsening
  Scenario: Insomnia Severity Index rose from 8 to 16 on pregnenolone
    Given a 55 year old man
    And he reports taking "Pregnenolone 50 mg daily" for 4 months
    And his ISI scores: 8 five months ago, 16 last week
    When his chart is opened
    Then the clinician sees an info card from rule "precursor-sleep-worsening"

  @rule_precursor_sleep_worsening
  Scenario: A three-point ISI rise below the clinical range
    Given a 55 year old man
    And he reports taking "Pregnenolone 50 mg daily" for 4 months
    And his ISI scores: 8 five months ago, 11 last week
    When his chart is opened
    Then the clinician sees no card from rule "precursor-sleep-worsening"

  @rule_precursor_sleep_worsening_band
  Scenario: Insomnia Severity Index moved from 11 into the clinical range at 16
    Given a 55 year old man
    And he reports taking "Pregnenolone 50 mg daily" for 4 months
    And his ISI scores: 11 five months ago, 16 last week
    When his chart is opened
    Then the clinician sees an info card from rule "precursor-sleep-worsening-band"
    And the clinician sees no card from rule "precursor-sleep-worsening"

  @rule_precursor_sleep_worsening_band
  Scenario: Already in the clinical range before pregnenolone
    Given a 55 year old man
    And he reports taking "Pregnenolone 50 mg daily" for 4 months
    And his ISI scores: 16 five months ago, 19 last week
    When his chart is opened
    Then the clinician sees no card from rule "precursor-sleep-worsening-band"

  @rule_neurosteroid_phq9_item9
  Scenario: PHQ-9 question 9 answered "Several days" during a zuranolone course
    Given a 31 year old woman
    And she is prescribed zuranolone 50 mg once daily since 5 days ago
    And she answered "Several days" to PHQ-9 question 9 yesterday
    When her chart is opened
    Then the clinician sees a warning card from rule "neurosteroid-phq9-item9"
    And the card says "Assess suicide risk today"

  @rule_neurosteroid_phq9_item9
  Scenario: PHQ-9 question 9 answered "Not at all"
    Given a 31 year old woman
    And she is prescribed zuranolone 50 mg once daily since 5 days ago
    And she answered "Not at all" to PHQ-9 question 9 yesterday
    When her chart is opened
    Then the clinician sees no card from rule "neurosteroid-phq9-item9"

  @rule_neurosteroid_phq9_item9
  Scenario: DHEA being prescribed a few days after a positive question 9
    Given a 48 year old woman
    And she answered "More than half the days" to PHQ-9 question 9 3 days ago
    And a draft order for prasterone 25 mg once daily
    When the clinician selects the draft order
    Then the clinician sees a warning card from rule "neurosteroid-phq9-item9"
    And the card says "is active or being ordered"
    And the card says "DHEA and pregnenolone carry none"

  @rule_neurosteroid_phq9_item9_after_zuranolone
  Scenario: Question 9 positive two weeks after a zuranolone course ended
    Given a 31 year old woman
    And she completed a 14-day course of zuranolone 50 mg started 30 days ago
    And she answered "More than half the days" to PHQ-9 question 9 2 days ago
    When her chart is opened
    Then the clinician sees a warning card from rule "neurosteroid-phq9-item9-after-zuranolone"

  @rule_neurosteroid_phq9_item9_after_zuranolone
  Scenario: The zuranolone course ended more than 30 days ago
    Given a 31 year old woman
    And she completed a 14-day course of zuranolone 50 mg started 80 days ago
    And she answered "More than half the days" to PHQ-9 question 9 2 days ago
    When her chart is opened
    Then the clinician sees no card from rule "neurosteroid-phq9-item9-after-zuranolone"
