Feature: DHEA and pregnenolone in children and adolescents
  DHEA is labelled "not for use if under 18", is banned in college sport and its safety in young
  people has not been studied. Pregnenolone has data only in adolescents aged 11-17 for up to
  10 weeks; for younger children there is none.

  Background:
    Given today is 2026-11-29

  @rule_dhea_minor
  Scenario: A 17-year-old athlete takes DHEA
    Given a 17 year old boy
    And he reports taking "DHEA 50 mg daily" for 2 months
    When his chart is opened
    Then the clinician sees a warning card from rule "dhea-minor"
    And the card says "under 18"
    And the card says "17 years"
    And the card says "DHEA 50 mg daily"

  @rule_dhea_minor
  Scenario: DHEA ordered for a 16-year-old girl is checked when the order is signed
    Given a 16 year old girl
    And a draft order for prasterone 25 mg once daily
    When the clinician signs the draft order
    Then the clinician sees a warning card from rule "dhea-minor"
    And the card says "16 years"

  @rule_dhea_minor
  Scenario: An 18-year-old is an adult for this rule
    Given an 18 year old woman
    And she reports taking "DHEA 50 mg daily" for 2 months
    When her chart is opened
    Then the clinician sees no card from rule "dhea-minor"
    But the clinician sees an info card from rule "dhea-unsupervised"

  @rule_dhea_minor
  Scenario: A teenager taking pregnenolone, not DHEA, gets no DHEA warning
    Given a 15 year old girl
    And she reports taking "Pregnenolone 10 mg" for 3 weeks
    When her chart is opened
    Then the clinician sees no card from rule "dhea-minor"
    And the clinician sees no card from rule "preg-minor"

  @rule_preg_minor
  Scenario: A 10-year-old is given pregnenolone by his parents
    Given a 10 year old boy
    And he reports taking "Pregnenolone 10 mg" for 3 weeks
    When his chart is opened
    Then the clinician sees an info card from rule "preg-minor"
    And the card says "under 11"
    And the card says "10 years"

  @rule_preg_minor
  Scenario: Pregnenolone ordered for a 9-year-old girl is checked at signing
    Given a 9 year old girl
    And a draft order for pregnenolone 10 mg once daily
    When the clinician signs the draft order
    Then the clinician sees an info card from rule "preg-minor"

  @rule_preg_minor
  Scenario: An 11-year-old is inside the age range that has safety data
    Given an 11 year old boy
    And he reports taking "Pregnenolone 10 mg" for 3 weeks
    When his chart is opened
    Then the clinician sees no card from rule "preg-minor"
