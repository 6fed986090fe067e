Feature: DHEA with polycystic ovary syndrome or liver disease
  DHEA is converted to androgens and may make PCOS (acne, hirsutism, irregular cycles) worse.
  Monographs also advise people with liver disease not to take it.

  Background:
    Given today is 2026-11-29

  @rule_dhea_pcos
  Scenario: A woman with PCOS takes DHEA
    Given a 29 year old woman
    And she has Polycystic ovary syndrome since 3 years ago
    And she reports taking "DHEA 25 mg daily" for 2 months
    When her chart is opened
    Then the clinician sees a warning card from rule "dhea-pcos"
    And the card says "may worsen hyperandrogenism"
    And the card says "Polycystic ovary syndrome"

  @rule_dhea_pcos
  Scenario: DHEA ordered in fertility care for a woman with PCOS is checked at signing
    Given a 36 year old woman
    And she has PCOS since 6 years ago
    And a draft order for prasterone 25 mg three times daily
    When the clinician signs the draft order
    Then the clinician sees a warning card from rule "dhea-pcos"

  @rule_dhea_pcos
  Scenario: PCOS that was ruled out does not count
    Given a 29 year old woman
    And PCOS was ruled out
    And she reports taking "DHEA 25 mg daily" for 2 months
    When her chart is opened
    Then the clinician sees no card from rule "dhea-pcos"

  @rule_dhea_pcos
  Scenario: A woman with PCOS who stopped DHEA is not flagged
    Given a 29 year old woman
    And she has PCOS since 3 years ago
    And she reported taking "DHEA 25 mg daily" but stopped last month
    When her chart is opened
    Then the clinician sees no cards

  @rule_dhea_pcos
  Scenario: Signing metformin for a woman with PCOS who takes DHEA does not repeat the PCOS warning
    Given a 29 year old woman
    And she has PCOS since 3 years ago
    And she reports taking "DHEA 25 mg daily" for 2 months
    And a draft order for metformin 500 mg twice daily
    When the clinician signs the draft order
    Then the clinician sees no card from rule "dhea-pcos"

  @rule_dhea_liver
  Scenario: DHEA in a man with liver disease
    Given a 63 year old man
    And he has liver disease since 2 years ago
    And he reports taking "DHEA 50 mg daily" for 5 months
    When his chart is opened
    Then the clinician sees a warning card from rule "dhea-liver"
    And the card says "advise against DHEA in liver disease"
    And the card says "liver disease"

  @rule_dhea_liver
  Scenario: DHEA in a woman with cirrhosis (ICD-10-CM K74)
    Given a 57 year old woman
    And she has Fibrosis and cirrhosis of liver since 4 years ago
    And she reports taking "DHEA 25 mg daily" for 5 months
    When her chart is opened
    Then the clinician sees a warning card from rule "dhea-liver"

  @rule_dhea_liver
  Scenario: Liver disease that has resolved does not count
    Given a 63 year old man
    And he had liver disease, now resolved
    And he reports taking "DHEA 50 mg daily" for 5 months
    When his chart is opened
    Then the clinician sees no card from rule "dhea-liver"
