Feature: Testosterone or estradiol above the reference range during DHEA or pregnenolone use
  DHEA, and pregnenolone through DHEA, are converted to testosterone and estradiol. Only results
  with the laboratory's own reference range are compared (no fallback table exists for these), and
  only the latest serum result of the last 12 months.

  Background:
    Given today is 2026-11-29

  @rule_sex_steroid_high
  Scenario: High testosterone in a woman taking DHEA
    Given a 48 year old woman
    And she reports taking "DHEA 50 mg daily" for 6 months
    And her testosterone was 95 ng/dL 3 weeks ago (reference range 8–60 ng/dL)
    When her chart is opened
    Then the clinician sees an info card from rule "sex-steroid-high"
    And the card says "above reference range"
    And the card says "95 ng/dL"
    And the card says "2026-11-08"

  @rule_sex_steroid_high
  Scenario: High estradiol in a man taking pregnenolone
    Given a 55 year old man
    And he reports taking "Pregnenolone 100 mg daily" for 4 months
    And his estradiol was 68 pg/mL 1 month ago (reference range 10–40 pg/mL)
    When his chart is opened
    Then the clinician sees an info card from rule "sex-steroid-high"
    And the card says "68 pg/mL"

  @rule_sex_steroid_high
  Scenario: Testosterone within the laboratory's range
    Given a 48 year old woman
    And she reports taking "DHEA 50 mg daily" for 6 months
    And her testosterone was 59 ng/dL 3 weeks ago (reference range 8–60 ng/dL)
    When her chart is opened
    Then the clinician sees no card from rule "sex-steroid-high"

  @rule_sex_steroid_high
  Scenario: A result without its own reference range is not judged
    Given a 48 year old woman
    And she reports taking "DHEA 50 mg daily" for 6 months
    And her testosterone was 95 ng/dL 3 weeks ago
    When her chart is opened
    Then the clinician sees no card from rule "sex-steroid-high"

  @rule_sex_steroid_high
  Scenario: A salivary testosterone is not compared
    Given a 48 year old woman
    And she reports taking "DHEA 50 mg daily" for 6 months
    And her salivary testosterone was 95 ng/dL 3 weeks ago (reference range 8–60 ng/dL)
    When her chart is opened
    Then the clinician sees no card from rule "sex-steroid-high"

  @rule_sex_steroid_high
  Scenario: A result older than 12 months is not used
    Given a 55 year old man
    And he reports taking "Pregnenolone 100 mg daily" for 2 years
    And his estradiol was 68 pg/mL 14 months ago (reference range 10–40 pg/mL)
    When his chart is opened
    Then the clinician sees no card from rule "sex-steroid-high"
