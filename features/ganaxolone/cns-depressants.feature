Feature: Ganaxolone with other CNS depressants or alcohol use disorder
  Ganaxolone causes somnolence and sedation (38% in the pivotal trial). Benzodiazepines, opioids,
  antidepressants, other antiseizure drugs and alcohol can add to it. On an order the card appears
  whichever drug of the pair is being ordered.

  Background:
    Given today is 2026-11-29

  @rule_ganax_cns
  Scenario Outline: Ganaxolone ordered for a patient taking <drug>
    Given a 9 year old girl
    And she is prescribed <drug> since 1 year ago
    And a draft order for ganaxolone 300 mg three times daily for 30 days
    When the clinician selects the draft order
    Then the clinician sees a warning card from rule "ganax-cns"
    And the card says "additive sedation"
    And the card says "counsel patient and caregivers on hazardous activities"
    And the card says "<drug>"

    Examples: Other antiseizure drugs
      | drug          |
      | carbamazepine |
      | phenytoin     |
      | phenobarbital |
      | primidone     |
      | valproic acid |
      | lamotrigine   |
      | clobazam      |
      | clonazepam    |
      | gabapentin    |
      | pregabalin    |
      | levetiracetam |
      | topiramate    |
      | oxcarbazepine |
      | lacosamide    |
      | zonisamide    |

    Examples: Benzodiazepines
      | drug             |
      | alprazolam       |
      | lorazepam        |
      | diazepam         |
      | triazolam        |
      | midazolam        |
      | oxazepam         |
      | temazepam        |
      | chlordiazepoxide |

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

  @rule_ganax_cns
  Scenario: Rescue midazolam ordered for a child on ganaxolone
    Given a 9 year old girl
    And she is prescribed ganaxolone 300 mg three times daily since 6 months ago
    And a draft order for midazolam 5 mg once daily for 2 days
    When the clinician signs the draft order
    Then the clinician sees a warning card from rule "ganax-cns"
    And the card says "midazolam"

  @rule_ganax_cns
  Scenario: Opening the chart of a child on ganaxolone and valproic acid
    Given a 9 year old girl
    And she is prescribed ganaxolone 300 mg three times daily since 6 months ago
    And she is prescribed valproic acid 250 mg twice daily since 2 years ago
    When her chart is opened
    Then the clinician sees a warning card from rule "ganax-cns"

  @rule_ganax_cns
  Scenario: Ganaxolone on its own is not a combination
    Given a 9 year old girl
    And she is prescribed ganaxolone 300 mg three times daily since 6 months ago
    When her chart is opened
    Then the clinician sees no card from rule "ganax-cns"
    And the clinician sees an info card from rule "ganax-aed-class"

  @rule_ganax_cns
  Scenario: A benzodiazepine that was stopped does not count
    Given a 9 year old girl
    And she was prescribed clobazam but it was stopped
    And a draft order for ganaxolone 300 mg three times daily for 30 days
    When the clinician selects the draft order
    Then the clinician sees no card from rule "ganax-cns"

  @rule_ganax_cns
  Scenario: A CYP3A4 inducer that is not a CNS depressant
    Given a 9 year old girl
    And she is prescribed rifampin 300 mg once daily since 1 month ago
    And a draft order for ganaxolone 300 mg three times daily for 30 days
    When the clinician selects the draft order
    Then the clinician sees no card from rule "ganax-cns"

  @rule_ganax_cns
  Scenario: Signing an unrelated order for a child on ganaxolone and clobazam
    Given a 9 year old girl
    And she is prescribed ganaxolone 300 mg three times daily since 6 months ago
    And she is prescribed clobazam 10 mg twice daily since 1 year ago
    And a draft order for acetaminophen (RxNorm 161) 240 mg three times daily
    When the clinician signs the draft order
    Then the clinician sees no card from rule "ganax-cns"

  # -- alcohol use disorder (a condition, not a medication) -------------------------------------

  @rule_ganax_alcohol
  Scenario: Ganaxolone ordered for an adult with alcohol use disorder
    Given a 24 year old man
    And he has alcohol use disorder since 2 years ago
    And a draft order for ganaxolone 600 mg three times daily for 30 days
    When the clinician selects the draft order
    Then the clinician sees a warning card from rule "ganax-alcohol"
    And the card says "alcohol use disorder"
    And the card says "Advise avoiding alcohol"

  @rule_ganax_alcohol
  Scenario: Opening the chart of an adult on ganaxolone with alcohol abuse
    Given a 24 year old man
    And he is prescribed ganaxolone 600 mg three times daily since 1 year ago
    And he has alcohol abuse
    When his chart is opened
    Then the clinician sees a warning card from rule "ganax-alcohol"

  @rule_ganax_alcohol
  Scenario: Alcohol use disorder in remission
    Given a 24 year old man
    And he had alcohol use disorder, now in remission
    And a draft order for ganaxolone 600 mg three times daily for 30 days
    When the clinician selects the draft order
    Then the clinician sees no card from rule "ganax-alcohol"

  @rule_ganax_alcohol
  Scenario: Signing an unrelated order for a patient with alcohol use disorder
    Given a 24 year old man
    And he is prescribed ganaxolone 600 mg three times daily since 1 year ago
    And he has alcohol use disorder since 2 years ago
    And a draft order for acetaminophen (RxNorm 161) 500 mg three times daily
    When the clinician signs the draft order
    Then the clinician sees no card from rule "ganax-alcohol"
