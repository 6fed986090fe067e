Feature: DHEA with antithrombotic or glucose-lowering drugs, or with diabetes
  The evidence is limited and points in both directions (bleeding versus clotting; lower versus
  higher glucose), so these cards stay at "info" and ask the clinician to monitor.

  Background:
    Given today is 2026-11-29

  @rule_dhea_antithrombotic
  Scenario Outline: DHEA with an anticoagulant or antiplatelet
    Given a 72 year old man
    And he is prescribed <drug> since 2 years ago
    And he reports taking "DHEA 50 mg daily" for 4 months
    When his chart is opened
    Then the clinician sees an info card from rule "dhea-antithrombotic"
    And the card says "limited and conflicting"
    And the card says "<drug>"

    Examples:
      | drug        |
      | warfarin    |
      | rivaroxaban |
      | apixaban    |
      | clopidogrel |
      | aspirin     |

  @rule_dhea_antithrombotic
  Scenario: Warfarin started for a man who takes DHEA
    Given a 72 year old man
    And he reports taking "DHEA 50 mg daily" for 4 months
    And a draft order for warfarin 5 mg once daily
    When the clinician signs the draft order
    Then the clinician sees an info card from rule "dhea-antithrombotic"
    And the card says "INR"

  @rule_dhea_antithrombotic
  Scenario: An anticoagulant that was stopped does not count
    Given a 72 year old man
    And he was prescribed warfarin but it was stopped
    And he reports taking "DHEA 50 mg daily" for 4 months
    When his chart is opened
    Then the clinician sees no card from rule "dhea-antithrombotic"

  @rule_dhea_antithrombotic
  Scenario: Signing an unrelated order does not repeat the antithrombotic card
    Given a 72 year old man
    And he is prescribed apixaban since 2 years ago
    And he reports taking "DHEA 50 mg daily" for 4 months
    And a draft order for sertraline 50 mg once daily
    When the clinician signs the draft order
    Then the clinician sees no card from rule "dhea-antithrombotic"

  @rule_dhea_glucose
  Scenario Outline: DHEA with a glucose-lowering drug
    Given a 64 year old woman
    And she is prescribed <drug> since 3 years ago
    And she reports taking "DHEA 25 mg daily" for 2 months
    When her chart is opened
    Then the clinician sees an info card from rule "dhea-glucose"
    And the card says "monitor glucose"
    And the card says "<drug>"

    Examples:
      | drug             |
      | metformin        |
      | insulin glargine |
      | glipizide        |
      | semaglutide      |

  @rule_dhea_glucose
  Scenario: Metformin ordered for a woman who takes DHEA
    Given a 64 year old woman
    And she reports taking "DHEA 25 mg daily" for 2 months
    And a draft order for metformin 500 mg twice daily
    When the clinician signs the draft order
    Then the clinician sees an info card from rule "dhea-glucose"

  @rule_dhea_glucose
  Scenario: A glucose-lowering drug that was stopped does not count
    Given a 64 year old woman
    And she was prescribed metformin but it was stopped
    And she reports taking "DHEA 25 mg daily" for 2 months
    When her chart is opened
    Then the clinician sees no card from rule "dhea-glucose"

  @rule_dhea_glucose_diabetes
  Scenario: DHEA in a woman with diet-controlled diabetes
    Given a 64 year old woman
    And she has Type 2 diabetes mellitus since 4 years ago
    And she reports taking "DHEA 25 mg daily" for 2 months
    When her chart is opened
    Then the clinician sees an info card from rule "dhea-glucose-diabetes"
    And the card says "DHEA in a patient with diabetes"
    And the card says "no antidiabetic drug on record"

  @rule_dhea_glucose_diabetes @rule_dhea_glucose
  Scenario: With a glucose-lowering drug on record, only the drug card is shown
    Given a 64 year old woman
    And she has Type 2 diabetes mellitus since 4 years ago
    And she is prescribed metformin 1000 mg twice daily since 4 years ago
    And she reports taking "DHEA 25 mg daily" for 2 months
    When her chart is opened
    Then the clinician sees an info card from rule "dhea-glucose"
    And the clinician sees no card from rule "dhea-glucose-diabetes"

  @rule_dhea_glucose_diabetes
  Scenario: Diabetes that was ruled out does not count
    Given a 64 year old woman
    And diabetes was ruled out
    And she reports taking "DHEA 25 mg daily" for 2 months
    When her chart is opened
    Then the clinician sees no card from rule "dhea-glucose-diabetes"
