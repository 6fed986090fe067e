Feature: Ganaxolone antiseizure-drug class warnings
  Ganaxolone (Ztalmy), for seizures of CDKL5 deficiency disorder, carries the antiseizure-drug
  class warnings: monitor for suicidal thoughts or mood change, and withdraw gradually to avoid
  more seizures. The reminder shows when ganaxolone is ordered and when the chart of a patient
  taking it is opened.

  Background:
    Given today is 2026-11-29

  @rule_ganax_aed_class
  Scenario: Ganaxolone ordered for a child with CDKL5 deficiency disorder
    Given a 4 year old girl
    And a draft order for ganaxolone 150 mg three times daily for 30 days
    When the clinician selects the draft order
    Then the clinician sees an info card from rule "ganax-aed-class"
    And the card says "monitor for suicidal thoughts or mood change"
    And the card says "taper gradually when stopping"

  @rule_ganax_aed_class
  Scenario: The reminder is shown again when the order is signed
    Given a 4 year old girl
    And a draft order for ganaxolone 150 mg three times daily for 30 days
    When the clinician signs the draft order
    Then the clinician sees an info card from rule "ganax-aed-class"

  @rule_ganax_aed_class
  Scenario: Opening the chart of a boy taking ganaxolone
    Given a 7 year old boy
    And he is prescribed ganaxolone 300 mg three times daily since 8 months ago
    When his chart is opened
    Then the clinician sees an info card from rule "ganax-aed-class"

  @rule_ganax_aed_class
  Scenario: Ganaxolone that was stopped
    Given a 7 year old boy
    And he was prescribed ganaxolone but it was stopped
    When his chart is opened
    Then the clinician sees no cards

  @rule_ganax_aed_class
  Scenario: Signing an unrelated order for a child on ganaxolone
    Given a 7 year old boy
    And he is prescribed ganaxolone 300 mg three times daily since 8 months ago
    And a draft order for acetaminophen (RxNorm 161) 240 mg three times daily
    When the clinician signs the draft order
    Then the clinician sees no card from rule "ganax-aed-class"
