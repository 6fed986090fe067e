Feature: DHEA or pregnenolone while breastfeeding
  Neither supplement has been studied in breastfeeding; monographs advise avoiding them.
  Breastfeeding is recognised from a breastfeeding-status answer in the last 6 months.

  Background:
    Given today is 2026-11-29

  @rule_precursor_lactation
  Scenario Outline: A breastfeeding mother takes a precursor supplement
    Given a 31 year old woman
    And she reports taking "<product>" for 6 weeks
    And she is breastfeeding
    When her chart is opened
    Then the clinician sees a warning card from rule "precursor-lactation"
    And the card says "while breastfeeding"
    And the card says "<product>"

    Examples:
      | product                  |
      | DHEA 25 mg daily         |
      | Pregnenolone 50 mg daily |

  @rule_precursor_lactation
  Scenario: Breastfeeding reported two months ago still counts
    Given a 31 year old woman
    And she reports taking "Pregnenolone 50 mg daily" for 6 weeks
    And she reported breastfeeding 2 months ago
    When her chart is opened
    Then the clinician sees a warning card from rule "precursor-lactation"

  @rule_precursor_lactation
  Scenario: Breastfeeding last recorded 8 months ago is out of date
    Given a 31 year old woman
    And she reports taking "Pregnenolone 50 mg daily" for 6 weeks
    And she reported breastfeeding 8 months ago
    When her chart is opened
    Then the clinician sees no card from rule "precursor-lactation"

  @rule_precursor_lactation
  Scenario: A breastfeeding mother who stopped DHEA is not flagged
    Given a 31 year old woman
    And she reported taking "DHEA 25 mg daily" but stopped 3 months ago
    And she is breastfeeding
    When her chart is opened
    Then the clinician sees no cards
