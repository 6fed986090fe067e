Feature: New activation or insomnia after starting DHEA or pregnenolone
  Agitation, irritability, hypomania and mania have been reported after starting DHEA, and
  pregnenolone lists restlessness and problems sleeping. A symptom counts as "new" when its onset
  is on or after the start of the current supplement course; when either date is unknown the
  rules stay silent.

  Background:
    Given today is 2026-11-29

  @rule_precursor_activation
  Scenario Outline: A new activation symptom after starting a precursor supplement
    Given a 34 year old man
    And he reports taking "<product>" for 3 months
    And he has <symptom> since 2 weeks ago
    When his chart is opened
    Then the clinician sees a warning card from rule "precursor-activation"
    And the card says "Consider a supplement-induced reaction"
    And the card says "<symptom>"

    Examples:
      | product                   | symptom      |
      | DHEA 200 mg daily         | agitation    |
      | DHEA 200 mg daily         | mania        |
      | Pregnenolone 100 mg daily | irritability |
      | Pregnenolone 100 mg daily | hypomania    |

  @rule_precursor_activation
  Scenario: Irritability that began before the supplement is not new
    Given a 34 year old man
    And he reports taking "DHEA 200 mg daily" for 3 months
    And he has irritability since 2 years ago
    When his chart is opened
    Then the clinician sees no card from rule "precursor-activation"

  @rule_precursor_activation
  Scenario: Agitation without an onset date cannot be judged new
    Given a 34 year old man
    And he reports taking "DHEA 200 mg daily" for 3 months
    And he has agitation
    When his chart is opened
    Then the clinician sees no card from rule "precursor-activation"

  @rule_precursor_activation
  Scenario: Agitation that has resolved does not count
    Given a 34 year old man
    And he reports taking "DHEA 200 mg daily" for 3 months
    And he had agitation, now resolved
    When his chart is opened
    Then the clinician sees no card from rule "precursor-activation"

  @rule_precursor_insomnia
  Scenario Outline: New insomnia after starting a precursor supplement
    Given a 47 year old woman
    And she reports taking "<product>" for 2 months
    And she has insomnia since 3 weeks ago
    When her chart is opened
    Then the clinician sees an info card from rule "precursor-insomnia"
    And the card says "New insomnia"
    And the card says "<product>"

    Examples:
      | product                  |
      | Pregnenolone 50 mg daily |
      | DHEA 50 mg daily         |

  @rule_precursor_insomnia
  Scenario: Long-standing insomnia is not new
    Given a 47 year old woman
    And she reports taking "Pregnenolone 50 mg daily" for 2 months
    And she has insomnia since 3 years ago
    When her chart is opened
    Then the clinician sees no card from rule "precursor-insomnia"

  @rule_precursor_insomnia
  Scenario: Insomnia that started after she stopped the supplement is not flagged
    Given a 47 year old woman
    And she reported taking "Pregnenolone 50 mg daily" but stopped 2 months ago
    And she has insomnia since 3 weeks ago
    When her chart is opened
    Then the clinician sees no card from rule "precursor-insomnia"
