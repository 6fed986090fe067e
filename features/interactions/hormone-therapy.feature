Feature: DHEA with prescribed estrogen, hormonal contraception or testosterone
  DHEA is converted to estradiol and testosterone; sources advise against combining it with
  hormone therapy or hormonal contraceptives except under medical supervision. The clinician is
  asked to make sure the hormone prescriber knows and to monitor.

  Background:
    Given today is 2026-11-29

  @rule_dhea_sex_hormone_rx
  Scenario Outline: DHEA with a prescribed sex hormone
    Given a <age> year old <sex>
    And <pronoun> is prescribed <drug> since 1 year ago
    And <pronoun> reports taking "DHEA 25 mg daily" for 3 months
    When <possessive> chart is opened
    Then the clinician sees an info card from rule "dhea-sex-hormone-rx"
    And the card says "confirm the prescriber is aware"
    And the card says "<drug>"

    Examples: Menopausal hormone therapy
      | age | sex   | pronoun | possessive | drug                 |
      | 54  | woman | she     | her        | estradiol            |
      | 58  | woman | she     | her        | conjugated estrogens |

    Examples: Hormonal contraception
      | age | sex   | pronoun | possessive | drug              |
      | 33  | woman | she     | her        | ethinyl estradiol |
      | 29  | woman | she     | her        | levonorgestrel    |

    Examples: Testosterone
      | age | sex | pronoun | possessive | drug         |
      | 62  | man | he      | his        | testosterone |

  @rule_dhea_sex_hormone_rx
  Scenario: Estradiol ordered for a woman who takes DHEA
    Given a 54 year old woman
    And she reports taking "DHEA 25 mg daily" for 3 months
    And a draft order for estradiol 1 mg once daily
    When the clinician signs the draft order
    Then the clinician sees an info card from rule "dhea-sex-hormone-rx"

  @rule_dhea_sex_hormone_rx
  Scenario: Plain progesterone is not in the table's list
    Given a 54 year old woman
    And she is prescribed progesterone since 1 year ago
    And she reports taking "DHEA 25 mg daily" for 3 months
    When her chart is opened
    Then the clinician sees no card from rule "dhea-sex-hormone-rx"

  @rule_dhea_sex_hormone_rx
  Scenario: Estradiol that was stopped does not count
    Given a 54 year old woman
    And she was prescribed estradiol but it was stopped
    And she reports taking "DHEA 25 mg daily" for 3 months
    When her chart is opened
    Then the clinician sees no card from rule "dhea-sex-hormone-rx"

  @rule_dhea_sex_hormone_rx
  Scenario: The prasterone vaginal insert with estradiol is not systemic DHEA
    Given a 58 year old woman
    And she is prescribed estradiol since 1 year ago
    And she is prescribed prasterone vaginal since 6 months ago
    When her chart is opened
    Then the clinician sees no card from rule "dhea-sex-hormone-rx"
