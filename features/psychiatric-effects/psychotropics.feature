Feature: DHEA with an antidepressant or antipsychotic
  Mania and agitation have been reported with DHEA, and antidepressants were suggested as a risk
  factor. The clinician is asked to watch mood and sleep and to tell the prescriber.

  Background:
    Given today is 2026-11-29

  @rule_dhea_psychotropic
  Scenario Outline: DHEA taken with a psychotropic drug
    Given a 50 year old woman
    And she is prescribed <drug> since 1 year ago
    And she reports taking "DHEA 25 mg daily" for 2 months
    When her chart is opened
    Then the clinician sees an info card from rule "dhea-psychotropic"
    And the card says "Monitor mood and sleep"
    And the card says "<drug>"

    Examples: Antidepressants
      | drug         |
      | sertraline   |
      | escitalopram |
      | bupropion    |
      | venlafaxine  |

    Examples: Antipsychotics
      | drug         |
      | quetiapine   |
      | aripiprazole |

  @rule_dhea_psychotropic
  Scenario: Sertraline ordered for a patient who takes DHEA is checked at signing
    Given a 50 year old woman
    And she reports taking "DHEA 25 mg daily" for 2 months
    And a draft order for sertraline 50 mg once daily
    When the clinician signs the draft order
    Then the clinician sees an info card from rule "dhea-psychotropic"

  @rule_dhea_psychotropic
  Scenario: An antidepressant that was stopped does not count
    Given a 50 year old woman
    And she was prescribed sertraline but it was stopped
    And she reports taking "DHEA 25 mg daily" for 2 months
    When her chart is opened
    Then the clinician sees no card from rule "dhea-psychotropic"

  @rule_dhea_psychotropic
  Scenario: Pregnenolone with an antidepressant is not covered by this DHEA rule
    Given a 50 year old woman
    And she is prescribed sertraline since 1 year ago
    And she reports taking "Pregnenolone 50 mg daily" for 2 months
    When her chart is opened
    Then the clinician sees no card from rule "dhea-psychotropic"

  @rule_dhea_psychotropic
  Scenario: Signing an unrelated order does not repeat the psychotropic card
    Given a 50 year old woman
    And she is prescribed sertraline since 1 year ago
    And she reports taking "DHEA 25 mg daily" for 2 months
    And a draft order for metformin 500 mg twice daily
    When the clinician signs the draft order
    Then the clinician sees no card from rule "dhea-psychotropic"
