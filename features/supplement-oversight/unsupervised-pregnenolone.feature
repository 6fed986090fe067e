Feature: Pregnenolone taken without a clinician's oversight
  Pregnenolone is sold for memory, mood and "adrenal fatigue". It is rated possibly safe only for
  up to 12 weeks. When a patient reports it and no clinician has ordered it, the clinician opening
  the chart is asked to review the need and how long it has been taken.

  Background:
    Given today is 2026-11-29

  @rule_preg_unsupervised
  Scenario: A man reports taking pregnenolone for memory
    Given a 58 year old man
    And he reports taking "Pregnenolone 50 mg daily" for 8 months
    When his chart is opened
    Then the clinician sees an info card from rule "preg-unsupervised"
    And the card says "without a documented prescriber"
    And the card says "Long-term (>12 weeks) safety is unknown"
    And the card says "Pregnenolone 50 mg daily"

  @rule_preg_unsupervised
  Scenario: The card shows how long the current course has lasted
    Given a 40 year old woman
    And she reports taking "Pregnenolone 30 mg" for 10 days
    When her chart is opened
    Then the clinician sees an info card from rule "preg-unsupervised"
    And the card says "current episode: 10 days"

  @rule_preg_unsupervised
  Scenario: Pregnenolone prescribed by her clinician is not unsupervised
    Given a 40 year old woman
    And she reports taking "Pregnenolone 30 mg" for 4 months
    And she is prescribed pregnenolone 30 mg once daily since 4 months ago
    When her chart is opened
    Then the clinician sees no card from rule "preg-unsupervised"

  @rule_preg_unsupervised
  Scenario: Pregnenolone she stopped last month is not flagged
    Given a 40 year old woman
    And she reported taking "Pregnenolone 30 mg" but stopped last month
    When her chart is opened
    Then the clinician sees no cards

  @rule_preg_unsupervised
  Scenario: Allopregnanolone is not pregnenolone
    Given a 40 year old woman
    And she reports taking "Allopregnanolone cream" for 2 months
    When her chart is opened
    Then the clinician sees no card from rule "preg-unsupervised"
