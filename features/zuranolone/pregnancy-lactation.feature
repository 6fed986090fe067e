Feature: Zuranolone in pregnancy and breastfeeding
  Zuranolone may cause fetal harm. For a woman who could be pregnant (female at birth, aged 12 to
  50: a local policy band, the label gives none) the clinician is asked to confirm pregnancy
  status and advise contraception during treatment and for 1 week after, unless the record shows
  she is not pregnant (a negative test or status in the last 30 days). Zuranolone passes into
  breast milk at low levels: breastfeeding gets its own info card.

  Background:
    Given today is 2026-11-29

  # -- pregnancy -------------------------------------------------------------------------------

  @rule_zur_pregnancy
  Scenario: Zuranolone ordered for a woman who is pregnant
    Given a 32 year old woman
    And she is pregnant
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees a warning card from rule "zur-pregnancy"
    And the card says "may cause fetal harm"
    And the card says "1 week after"

  @rule_zur_pregnancy
  Scenario Outline: A <age> year old woman with no recent pregnancy status
    Given a <age> year old woman
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician signs the draft order
    Then the clinician sees a warning card from rule "zur-pregnancy"
    And the card says "Confirm pregnancy status"

    Examples:
      | age |
      | 19  |
      | 32  |
      | 50  |

  @rule_zur_pregnancy
  Scenario: Opening the chart of a woman taking zuranolone, pregnancy status unknown
    Given a 32 year old woman
    And she is prescribed zuranolone 50 mg once daily since 3 days ago
    When her chart is opened
    Then the clinician sees a warning card from rule "zur-pregnancy"

  @rule_zur_pregnancy
  Scenario: A negative pregnancy test yesterday
    Given a 32 year old woman
    And her urine pregnancy test was negative yesterday
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees no card from rule "zur-pregnancy"

  @rule_zur_pregnancy
  Scenario: A negative pregnancy test two months ago no longer rules out pregnancy
    Given a 32 year old woman
    And her urine pregnancy test was negative 2 months ago
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees a warning card from rule "zur-pregnancy"

  @rule_zur_pregnancy
  Scenario: A man cannot be pregnant
    Given a 35 year old man
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees no card from rule "zur-pregnancy"

  @rule_zur_pregnancy
  Scenario: A 55 year old woman is outside the reproductive age band
    Given a 55 year old woman
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees no card from rule "zur-pregnancy"

  # -- breastfeeding ---------------------------------------------------------------------------

  @rule_zur_lactation
  Scenario: Zuranolone ordered for a breastfeeding mother
    Given a 29 year old woman
    And she is breastfeeding
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees an info card from rule "zur-lactation"
    And the card says "low levels pass into milk"
    And the card says "watching the infant for sleepiness"

  @rule_zur_lactation
  Scenario: Opening the chart of a mother on zuranolone who is breastfeeding
    Given a 29 year old woman
    And she is prescribed zuranolone 50 mg once daily since 3 days ago
    And she is breastfeeding
    When her chart is opened
    Then the clinician sees an info card from rule "zur-lactation"

  @rule_zur_lactation
  Scenario: A mother who is not breastfeeding
    Given a 29 year old woman
    And she is not breastfeeding
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees no card from rule "zur-lactation"

  @rule_zur_lactation
  Scenario: Breastfeeding status not recorded
    Given a 29 year old woman
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees no card from rule "zur-lactation"
