Feature: Lab orders that will not answer the clinical question
  When a clinician orders a hormone test, the service points out tests that mislead: salivary sex
  steroids, allopregnanolone (no clinical assay) and immunoassays in patients taking high-dose
  biotin.

  Background:
    Given today is 2026-11-29

  @rule_salivary_steroid_monitoring_order
  Scenario: A salivary DHEA-S is being ordered
    Given a 49 year old woman
    And a draft lab order for DHEA-S in saliva
    When the clinician selects the draft order
    Then the clinician sees an info card from rule "salivary-steroid-monitoring-order"
    And the card suggests "serum DHEA-S instead"

  @rule_salivary_steroid_monitoring_order
  Scenario: A serum DHEA-S order is the right test
    Given a 49 year old woman
    And a draft lab order for DHEA-S
    When the clinician selects the draft order
    Then the clinician sees no card from rule "salivary-steroid-monitoring-order"

  @rule_allopregnanolone_order
  Scenario: An allopregnanolone level is ordered by name
    Given a 33 year old woman
    And a draft lab order written as "Allopregnanolone, serum"
    When the clinician signs the draft order
    Then the clinician sees an info card from rule "allopregnanolone-order"
    And the card says "will not guide therapy"

  @rule_allopregnanolone_order
  Scenario: A pregnenolone level is not allopregnanolone
    Given a 33 year old woman
    And a draft lab order for pregnenolone
    When the clinician signs the draft order
    Then the clinician sees no card from rule "allopregnanolone-order"

  @rule_hormone_lab_biotin
  Scenario: A DHEA-S ordered for a woman taking 10,000 mcg of biotin a day
    Given a 44 year old woman
    And she takes biotin 10,000 mcg daily
    And a draft lab order for DHEA-S
    When the clinician selects the draft order
    Then the clinician sees an info card from rule "hormone-lab-biotin"
    And the card says "Tell the lab"

  @rule_hormone_lab_biotin
  Scenario: Biotin with no recorded dose gives no card
    Given a 44 year old woman
    And she takes biotin, dose not recorded
    And a draft lab order for testosterone
    When the clinician selects the draft order
    Then the clinician sees no card from rule "hormone-lab-biotin"
