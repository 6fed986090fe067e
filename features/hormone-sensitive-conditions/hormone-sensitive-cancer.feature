Feature: DHEA and pregnenolone with a hormone-sensitive cancer or condition
  DHEA and pregnenolone are converted to estrogens and androgens, which could stimulate
  hormone-sensitive tumours. For DHEA a past history of breast, prostate, ovarian or endometrial
  cancer counts, whatever its status. For pregnenolone only an active condition counts (a
  documented choice awaiting review): these cancers, endometriosis and uterine fibroids.

  Background:
    Given today is 2026-11-29

  @rule_dhea_hormone_cancer
  Scenario Outline: DHEA with a hormone-sensitive cancer, current or past
    Given a <age> year old <sex>
    And <pronoun> reports taking "DHEA 25 mg daily" for 4 months
    And <pronoun> had <cancer>, now <status>
    When <possessive> chart is opened
    Then the clinician sees a warning card from rule "dhea-hormone-cancer"
    And the card says "avoid unless approved by oncology"
    And the card says "<cancer>"
    And the card says "status: <shown>"

    Examples:
      | age | sex   | pronoun | possessive | cancer             | status       | shown     |
      | 54  | woman | she     | her        | breast cancer      | in remission | remission |
      | 68  | man   | he      | his        | prostate cancer    | resolved     | resolved  |
      | 49  | woman | she     | her        | ovarian cancer     | in remission | remission |
      | 61  | woman | she     | her        | endometrial cancer | resolved     | resolved  |

  @rule_dhea_hormone_cancer
  Scenario: DHEA with breast cancer under active treatment
    Given a 47 year old woman
    And she reports taking "DHEA 50 mg daily" for 2 months
    And she has breast cancer since 1 year ago
    When her chart is opened
    Then the clinician sees a warning card from rule "dhea-hormone-cancer"
    And the card says "status: active"

  @rule_dhea_hormone_cancer
  Scenario: DHEA ordered for a man with a history of prostate cancer is checked at signing
    Given a 70 year old man
    And he had prostate cancer, now in remission
    And a draft order for prasterone 25 mg once daily
    When the clinician signs the draft order
    Then the clinician sees a warning card from rule "dhea-hormone-cancer"

  @rule_dhea_hormone_cancer
  Scenario: A suspected breast cancer that was ruled out does not count
    Given a 54 year old woman
    And she reports taking "DHEA 25 mg daily" for 4 months
    And breast cancer was ruled out
    When her chart is opened
    Then the clinician sees no card from rule "dhea-hormone-cancer"

  @rule_dhea_hormone_cancer
  Scenario: DHEA she stopped before her cancer was found is not flagged
    Given a 54 year old woman
    And she reported taking "DHEA 25 mg daily" but stopped 6 months ago
    And she has breast cancer since 3 months ago
    When her chart is opened
    Then the clinician sees no cards

  @rule_dhea_hormone_cancer
  Scenario: Signing an unrelated order does not repeat the DHEA cancer warning
    Given a 54 year old woman
    And she reports taking "DHEA 25 mg daily" for 4 months
    And she had breast cancer, now in remission
    And a draft order for sertraline 50 mg once daily
    When the clinician signs the draft order
    Then the clinician sees no card from rule "dhea-hormone-cancer"

  @rule_preg_hormone_cancer
  Scenario Outline: Pregnenolone with an active hormone-sensitive condition
    Given a 44 year old woman
    And she reports taking "Pregnenolone 50 mg daily" for 3 months
    And she has <condition> since 2 years ago
    When her chart is opened
    Then the clinician sees a warning card from rule "preg-hormone-cancer"
    And the card says "can be converted to estrogen"
    And the card says "<condition>"

    Examples:
      | condition        |
      | endometriosis    |
      | uterine fibroids |
      | breast cancer    |
      | ovarian cancer   |

  @rule_preg_hormone_cancer
  Scenario: Pregnenolone ordered for a woman with endometriosis is checked at signing
    Given a 38 year old woman
    And she has endometriosis since 5 years ago
    And a draft order for pregnenolone 25 mg once daily
    When the clinician signs the draft order
    Then the clinician sees a warning card from rule "preg-hormone-cancer"

  @rule_preg_hormone_cancer
  Scenario: For pregnenolone a breast cancer in remission does not count (unlike DHEA)
    Given a 58 year old woman
    And she reports taking "Pregnenolone 50 mg daily" for 3 months
    And she had breast cancer, now in remission
    When her chart is opened
    Then the clinician sees no card from rule "preg-hormone-cancer"

  @rule_preg_hormone_cancer
  Scenario: Endometriosis that has resolved does not count
    Given a 52 year old woman
    And she reports taking "Pregnenolone 50 mg daily" for 3 months
    And she had endometriosis, now resolved
    When her chart is opened
    Then the clinician sees no card from rule "preg-hormone-cancer"
