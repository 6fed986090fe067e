Feature: Laboratory monitoring of DHEA supplementation
  No guideline sets a schedule for monitoring DHEA taken as a supplement. The service proposes:
  a baseline serum DHEA-S at the start, a first on-treatment level after 12 weeks and then at least
  yearly, a benefit review after a 6-month trial, and warnings about tests that mislead (salivary
  levels, immunoassays in patients taking high-dose biotin).

  Background:
    Given today is 2026-11-29

  @rule_dhea_baseline_labs
  Scenario: A woman started DHEA ten days ago and has never had a DHEA-S
    Given a 52 year old woman
    And she reports taking "DHEA 25 mg daily" for 10 days
    When her chart is opened
    Then the clinician sees an info card from rule "dhea-baseline-labs"
    And the card says "no baseline DHEA-S"
    And the card suggests "morning serum DHEA-S and total testosterone"

  @rule_dhea_baseline_labs
  Scenario: A DHEA-S taken two months ago, shortly before she started, is her baseline
    Given a 52 year old woman
    And she reports taking "DHEA 25 mg daily" for 10 days
    And her DHEA-S results: 150 µg/dL two months ago
    When her chart is opened
    Then the clinician sees no card from rule "dhea-baseline-labs"

  @rule_dhea_baseline_labs
  Scenario: Prasterone being prescribed with no baseline level on record
    Given a 47 year old woman
    And a draft order for prasterone 25 mg once daily
    When the clinician selects the draft order
    Then the clinician sees an info card from rule "dhea-baseline-labs"

  @rule_dhea_baseline_labs
  Scenario: The baseline DHEA-S is ordered together with the prasterone
    Given a 47 year old woman
    And a draft order for prasterone 25 mg once daily
    And a draft lab order for DHEA-S
    When the clinician signs the draft order
    Then the clinician sees no card from rule "dhea-baseline-labs"

  @rule_dhea_recheck_due
  Scenario: Ten months of DHEA and only the baseline level
    Given a 58 year old woman
    And she reports taking "DHEA 50 mg daily" for 10 months
    And her DHEA-S results: 180 µg/dL eleven months ago
    When her chart is opened
    Then the clinician sees an info card from rule "dhea-recheck-due"
    And the card suggests "before the dose"

  @rule_dhea_recheck_due
  Scenario: The recheck was done last month
    Given a 58 year old woman
    And she reports taking "DHEA 50 mg daily" for 10 months
    And her DHEA-S results: 180 µg/dL eleven months ago, 260 µg/dL last month
    When her chart is opened
    Then the clinician sees no card from rule "dhea-recheck-due"

  @rule_dhea_recheck_due
  Scenario: DHEA restarted six weeks ago after a two-month break is not yet due for a recheck
    Given a 58 year old woman
    And she took "DHEA 50 mg daily" from two years ago until four months ago
    And she reports taking "DHEA 50 mg daily" for 6 weeks
    And her DHEA-S results: 180 µg/dL two years ago
    When her chart is opened
    Then the clinician sees no card from rule "dhea-recheck-due"

  @rule_dhea_trial_review
  Scenario: Eight months of DHEA calls for a benefit review
    Given a 61 year old woman
    And she reports taking "DHEA 25 mg daily" for 8 months
    And her DHEA-S results: 180 µg/dL eight months ago, 210 µg/dL last week
    When her chart is opened
    Then the clinician sees an info card from rule "dhea-trial-review"
    And the card says "reassess benefit"

  @rule_dhea_trial_review
  Scenario: The episode was interrupted for 60 days, so the trial restarted two months ago
    Given a 61 year old woman
    And she took "DHEA 25 mg daily" from 14 months ago until 4 months ago
    And she reports taking "DHEA 25 mg daily" for 2 months
    When her chart is opened
    Then the clinician sees no card from rule "dhea-trial-review"

  @rule_salivary_steroid_monitoring
  Scenario: A salivary DHEA-S from a wellness clinic two months ago
    Given a 49 year old woman
    And her salivary DHEA-S was 250 pg/mL 2 months ago
    When her chart is opened
    Then the clinician sees an info card from rule "salivary-steroid-monitoring"
    And the card suggests "serum DHEA-S"

  @rule_salivary_steroid_monitoring
  Scenario: A salivary result older than the 12-month window
    Given a 49 year old woman
    And her salivary DHEA-S was 250 pg/mL 14 months ago
    When her chart is opened
    Then the clinician sees no card from rule "salivary-steroid-monitoring"

  @rule_hormone_lab_biotin_result
  Scenario: A DHEA-S resulted three days ago in a woman taking 10 mg of biotin a day
    Given a 44 year old woman
    And she takes biotin 10 mg daily
    And her DHEA-S results: 410 µg/dL three days ago
    When her chart is opened
    Then the clinician sees an info card from rule "hormone-lab-biotin-result"
    And the card says "falsely high or low"

  @rule_hormone_lab_biotin_result
  Scenario: The DHEA-S is three weeks old, outside the 7-day window
    Given a 44 year old woman
    And she takes biotin 10 mg daily
    And her DHEA-S results: 410 µg/dL three weeks ago
    When her chart is opened
    Then the clinician sees no card from rule "hormone-lab-biotin-result"
