Feature: DHEA or pregnenolone during pregnancy
  DHEA is rated "possibly unsafe" in pregnancy because raised androgens could affect the fetus;
  pregnenolone has no data and should be avoided. Women sometimes start DHEA for fertility and
  carry on after conceiving. Pregnancy is recognised from a pregnancy-status answer, an active
  pregnancy diagnosis, or a positive pregnancy test in the last 30 days.

  Background:
    Given today is 2026-11-29

  @rule_precursor_pregnancy
  Scenario Outline: A pregnant woman still takes a precursor supplement
    Given a 36 year old woman
    And she reports taking "<product>" for 4 months
    And she is pregnant
    When her chart is opened
    Then the clinician sees a warning card from rule "precursor-pregnancy"
    And the card says "advise stopping"
    And the card says "<product>"

    Examples:
      | product                      |
      | DHEA 25 mg three times a day |
      | Pregnenolone 30 mg daily     |

  @rule_precursor_pregnancy
  Scenario: A positive pregnancy test ten days ago counts as pregnant
    Given a 38 year old woman
    And she reports taking "DHEA 75 mg daily" for 5 months
    And her pregnancy test was positive 10 days ago
    When her chart is opened
    Then the clinician sees a warning card from rule "precursor-pregnancy"
    And the card says "recorded as pregnant"

  @rule_precursor_pregnancy
  Scenario: DHEA ordered for a pregnant woman is checked at signing
    Given a 34 year old woman
    And she is pregnant
    And a draft order for prasterone 25 mg once daily
    When the clinician signs the draft order
    Then the clinician sees a warning card from rule "precursor-pregnancy"

  @rule_precursor_pregnancy
  Scenario: A positive test more than 30 days ago is not enough on its own
    Given a 38 year old woman
    And she reports taking "DHEA 75 mg daily" for 5 months
    And her pregnancy test was positive 6 weeks ago
    When her chart is opened
    Then the clinician sees no card from rule "precursor-pregnancy"

  @rule_precursor_pregnancy
  Scenario: A negative pregnancy test does not fire
    Given a 38 year old woman
    And she reports taking "DHEA 75 mg daily" for 5 months
    And her pregnancy test was negative 3 days ago
    When her chart is opened
    Then the clinician sees no card from rule "precursor-pregnancy"

  @rule_precursor_pregnancy
  Scenario: A pregnancy that was ruled out does not count
    Given a 38 year old woman
    And she reports taking "Pregnenolone 30 mg daily" for 5 months
    And pregnancy was ruled out
    When her chart is opened
    Then the clinician sees no card from rule "precursor-pregnancy"

  @rule_precursor_pregnancy
  Scenario: A pregnant woman who stopped DHEA when she conceived is not flagged
    Given a 36 year old woman
    And she reported taking "DHEA 25 mg three times a day" but stopped 2 months ago
    And she is pregnant
    When her chart is opened
    Then the clinician sees no cards

  @rule_precursor_pregnancy
  Scenario: A pregnancy on the problem list counts as pregnant
    Given a 33 year old woman
    And she reports taking "Pregnenolone 30 mg daily" for 3 months
    And pregnancy is on her problem list since 10 weeks ago
    When her chart is opened
    Then the clinician sees a warning card from rule "precursor-pregnancy"
