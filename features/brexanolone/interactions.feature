Feature: Brexanolone with opioids, benzodiazepines or antidepressants
  Sedation-related events were more frequent when brexanolone was given with opioids,
  benzodiazepines or other CNS depressants, and with antidepressants. On an order the card
  appears whichever drug of the pair is being ordered. The product was withdrawn in 2025.

  Background:
    Given today is 2026-11-29

  @rule_brex_interactions
  Scenario Outline: Brexanolone ordered for a patient taking <drug>
    Given a 30 year old woman
    And she is prescribed <drug> since 1 month ago
    And a draft order for brexanolone
    When the clinician selects the draft order
    Then the clinician sees a warning card from rule "brex-interactions"
    And the card says "increased sedation risk"
    And the card says "<drug>"
    And the card says "withdrawn 2025"

    Examples: Opioids
      | drug          |
      | oxycodone     |
      | morphine      |
      | hydrocodone   |
      | fentanyl      |
      | methadone     |
      | tramadol      |
      | codeine       |
      | hydromorphone |
      | buprenorphine |
      | oxymorphone   |
      | meperidine    |
      | tapentadol    |

    Examples: Benzodiazepines
      | drug             |
      | alprazolam       |
      | lorazepam        |
      | diazepam         |
      | clonazepam       |
      | triazolam        |
      | midazolam        |
      | clobazam         |
      | oxazepam         |
      | temazepam        |
      | chlordiazepoxide |

    Examples: Antidepressants
      | drug           |
      | sertraline     |
      | fluoxetine     |
      | escitalopram   |
      | citalopram     |
      | venlafaxine    |
      | bupropion      |
      | trazodone      |
      | amitriptyline  |
      | paroxetine     |
      | duloxetine     |
      | mirtazapine    |
      | desvenlafaxine |
      | nortriptyline  |
      | imipramine     |
      | doxepin        |
      | clomipramine   |
      | desipramine    |

  @rule_brex_interactions
  Scenario: Lorazepam ordered during the infusion
    Given a 30 year old woman
    And she is receiving a brexanolone infusion started yesterday
    And a draft order for lorazepam 1 mg twice daily for 3 days
    When the clinician signs the draft order
    Then the clinician sees a warning card from rule "brex-interactions"
    And the card says "lorazepam"

  @rule_brex_interactions
  Scenario: The antidepressant was stopped
    Given a 30 year old woman
    And she was prescribed sertraline but it was stopped
    And a draft order for brexanolone
    When the clinician selects the draft order
    Then the clinician sees no card from rule "brex-interactions"

  @rule_brex_interactions
  Scenario: Zolpidem is not in the label's list for this card
    Given a 30 year old woman
    And she is prescribed zolpidem 5 mg once daily since 1 month ago
    And a draft order for brexanolone
    When the clinician selects the draft order
    Then the clinician sees no card from rule "brex-interactions"

  @rule_brex_interactions
  Scenario: Signing an unrelated order during the infusion
    Given a 30 year old woman
    And she is receiving a brexanolone infusion started yesterday
    And she is prescribed sertraline 50 mg once daily since 6 months ago
    And a draft order for acetaminophen (RxNorm 161) 500 mg three times daily
    When the clinician signs the draft order
    Then the clinician sees no card from rule "brex-interactions"
