Feature: DHEA-S above the reference range during DHEA use
  DHEA is considered reasonably safe only at doses that bring DHEA-S back into the normal range.
  The latest serum DHEA-S of the last 12 months is compared with the laboratory's own reference
  range, or, when the result carries none, with the ARUP range for the patient's age and sex at
  birth. Salivary results are never compared.

  Background:
    Given today is 2026-11-29

  @rule_dhea_s_high
  Scenario: DHEA-S above the laboratory's own range
    Given a 45 year old woman
    And she reports taking "DHEA 50 mg daily" for 8 months
    And her DHEA-S was 560 µg/dL 2 weeks ago (reference range 35–256 µg/dL)
    When her chart is opened
    Then the clinician sees a warning card from rule "dhea-s-high"
    And the card says "above the age/sex reference range"
    And the card says "560"
    And the card says "upper reference limit 256"
    And the card says "biotin"

  @rule_dhea_s_high
  Scenario: Without a range on the result, the ARUP range for a woman of 45 is used
    Given a 45 year old woman
    And she reports taking "DHEA 50 mg daily" for 8 months
    And her DHEA-S was 300 µg/dL 2 weeks ago
    When her chart is opened
    Then the clinician sees a warning card from rule "dhea-s-high"
    And the card says "upper reference limit 256"

  @rule_dhea_s_high
  Scenario: A result in µmol/L is converted before it is compared
    Given a 45 year old woman
    And she reports taking "DHEA 50 mg daily" for 8 months
    And her DHEA-S was 12.5 µmol/L 2 weeks ago
    When her chart is opened
    Then the clinician sees a warning card from rule "dhea-s-high"

  @rule_dhea_s_high
  Scenario: High DHEA-S on prescribed prasterone, checked when the next order is signed
    Given a 67 year old man
    And his DHEA-S was 410 µg/dL 1 month ago (reference range 34–249 µg/dL)
    And a draft order for prasterone 50 mg once daily
    When the clinician signs the draft order
    Then the clinician sees a warning card from rule "dhea-s-high"

  @rule_dhea_s_high
  Scenario: Just inside the laboratory's range
    Given a 45 year old woman
    And she reports taking "DHEA 50 mg daily" for 8 months
    And her DHEA-S was 255 µg/dL 2 weeks ago (reference range 35–256 µg/dL)
    When her chart is opened
    Then the clinician sees no card from rule "dhea-s-high"

  @rule_dhea_s_high
  Scenario: The same value is within the ARUP range for a man of 50
    Given a 50 year old man
    And he reports taking "DHEA 50 mg daily" for 8 months
    And his DHEA-S was 300 µg/dL 2 weeks ago
    When his chart is opened
    Then the clinician sees no card from rule "dhea-s-high"

  @rule_dhea_s_high
  Scenario: A result older than 12 months is not used
    Given a 45 year old woman
    And she reports taking "DHEA 50 mg daily" for 2 years
    And her DHEA-S was 560 µg/dL 13 months ago (reference range 35–256 µg/dL)
    When her chart is opened
    Then the clinician sees no card from rule "dhea-s-high"

  @rule_dhea_s_high
  Scenario: Only the latest result counts
    Given a 45 year old woman
    And she reports taking "DHEA 25 mg daily" for 8 months
    And her DHEA-S was 560 µg/dL 4 months ago (reference range 35–256 µg/dL)
    And her DHEA-S was 210 µg/dL 1 week ago (reference range 35–256 µg/dL)
    When her chart is opened
    Then the clinician sees no card from rule "dhea-s-high"

  @rule_dhea_s_high
  Scenario: A salivary DHEA-S is not compared with serum ranges
    Given a 45 year old woman
    And she reports taking "DHEA 50 mg daily" for 8 months
    And her salivary DHEA-S was 560 µg/dL 2 weeks ago (reference range 35–256 µg/dL)
    When her chart is opened
    Then the clinician sees no card from rule "dhea-s-high"

  @rule_dhea_s_high
  Scenario: A high DHEA-S after she stopped DHEA is not flagged
    Given a 45 year old woman
    And she reported taking "DHEA 50 mg daily" but stopped last month
    And her DHEA-S was 560 µg/dL 2 months ago (reference range 35–256 µg/dL)
    When her chart is opened
    Then the clinician sees no cards

  @rule_dhea_s_high
  Scenario: A result reported as above the assay's limit is high, and the card says so
    Given a 45 year old woman
    And she reports taking "DHEA 100 mg daily" for 8 months
    And her DHEA-S was >1500 µg/dL 2 weeks ago
    When her chart is opened
    Then the clinician sees a warning card from rule "dhea-s-high"
    And the card says ">1500"

  @rule_dhea_s_high
  Scenario: A result reported as below the assay's limit is never high
    Given a 45 year old woman
    And she reports taking "DHEA 50 mg daily" for 8 months
    And her DHEA-S was <15 µg/dL 2 weeks ago
    When her chart is opened
    Then the clinician sees no card from rule "dhea-s-high"
