Feature: Androgenic effects in a woman taking DHEA
  In women DHEA is converted to androgens: acne, unwanted hair growth, hair loss and a deeper
  voice are reported, and a deeper voice may not reverse. A symptom counts when it started on or
  after the start of the current DHEA course.

  Background:
    Given today is 2026-11-29

  @rule_dhea_androgenic_ae
  Scenario Outline: A new androgenic symptom after starting DHEA
    Given a 52 year old woman
    And she reports taking "DHEA 50 mg daily" for 5 months
    And she has <symptom> since 1 month ago
    When her chart is opened
    Then the clinician sees a warning card from rule "dhea-androgenic-ae"
    And the card says "Possible androgen excess"
    And the card says "check DHEA-S/testosterone"
    And the card says "<symptom>"

    Examples:
      | symptom            |
      | acne               |
      | hirsutism          |
      | alopecia           |
      | Deepening of voice |

  @rule_dhea_androgenic_ae
  Scenario: DHEA ordered for a woman who developed acne on her own supply is checked at signing
    Given a 52 year old woman
    And she reports taking "DHEA 50 mg daily" for 5 months
    And she has acne since 1 month ago
    And a draft order for prasterone 25 mg once daily
    When the clinician signs the draft order
    Then the clinician sees a warning card from rule "dhea-androgenic-ae"

  @rule_dhea_androgenic_ae
  Scenario: The rule is about women; a man with new acne on DHEA gets no card
    Given a 52 year old man
    And he reports taking "DHEA 50 mg daily" for 5 months
    And he has acne since 1 month ago
    When his chart is opened
    Then the clinician sees no card from rule "dhea-androgenic-ae"

  @rule_dhea_androgenic_ae
  Scenario: Acne that predates DHEA is not new
    Given a 52 year old woman
    And she reports taking "DHEA 50 mg daily" for 5 months
    And she has acne since 3 years ago
    When her chart is opened
    Then the clinician sees no card from rule "dhea-androgenic-ae"

  @rule_dhea_androgenic_ae
  Scenario: New acne with pregnenolone, not DHEA, is not this rule
    Given a 52 year old woman
    And she reports taking "Pregnenolone 50 mg daily" for 5 months
    And she has acne since 1 month ago
    When her chart is opened
    Then the clinician sees no card from rule "dhea-androgenic-ae"
