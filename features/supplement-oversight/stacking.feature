Feature: Several neurosteroid precursors or hormones taken together
  DHEA and pregnenolone are both converted to sex steroids. Taking both, or adding either to
  testosterone or to a neuroactive steroid drug, has not been studied; the clinician is asked to
  review each product and look for additive hormonal effects.

  Background:
    Given today is 2026-11-29

  @rule_precursor_stacking
  Scenario: DHEA and pregnenolone taken together
    Given a 52 year old woman
    And she reports taking "DHEA 25 mg daily" for 6 months
    And she reports taking "Pregnenolone 50 mg daily" for 2 months
    When her chart is opened
    Then the clinician sees an info card from rule "precursor-stacking"
    And the card says "More than one neurosteroid precursor"
    And the card says "DHEA 25 mg daily"
    And the card says "Pregnenolone 50 mg daily"

  @rule_precursor_stacking
  Scenario: DHEA on top of prescribed testosterone
    Given a 61 year old man
    And he reports taking "DHEA 50 mg daily" for 3 months
    And he is prescribed testosterone since 1 year ago
    When his chart is opened
    Then the clinician sees an info card from rule "precursor-stacking"
    And the card says "testosterone"

  @rule_precursor_stacking
  Scenario: Zuranolone ordered for a woman who takes pregnenolone
    Given a 32 year old woman
    And she reports taking "Pregnenolone 25 mg" for 5 weeks
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician signs the draft order
    Then the clinician sees an info card from rule "precursor-stacking"
    And the card says "zuranolone"

  @rule_precursor_stacking
  Scenario: The same DHEA recorded twice is one product, not a combination
    Given a 52 year old woman
    And she reports taking "DHEA 25 mg daily" for 6 months
    And she reports taking "Dehydroepiandrosterone 25 mg" for 2 months
    When her chart is opened
    Then the clinician sees no card from rule "precursor-stacking"

  @rule_precursor_stacking
  Scenario: Pregnenolone she stopped does not stack with DHEA
    Given a 52 year old woman
    And she reports taking "DHEA 25 mg daily" for 6 months
    And she reported taking "Pregnenolone 50 mg daily" but stopped last month
    When her chart is opened
    Then the clinician sees no card from rule "precursor-stacking"

  @rule_precursor_stacking
  Scenario: The prasterone vaginal insert does not count as a systemic precursor
    Given a 58 year old woman
    And she reports taking "Pregnenolone 50 mg daily" for 2 months
    And she is prescribed prasterone vaginal since 6 months ago
    When her chart is opened
    Then the clinician sees no card from rule "precursor-stacking"

  @rule_precursor_stacking
  Scenario: Testosterone alone, without a precursor supplement, is not stacking
    Given a 61 year old man
    And he is prescribed testosterone since 1 year ago
    When his chart is opened
    Then the clinician sees no cards
