Feature: Zuranolone with other CNS depressants or alcohol use disorder
  Zuranolone causes somnolence (36% on 50 mg versus 6% on placebo) and adds to the effect of other
  CNS depressants: benzodiazepines, opioids, Z-hypnotics and orexin antagonists, tricyclic
  antidepressants, gabapentinoids, barbiturates, and alcohol. On an order the card appears
  whichever drug of the pair is being ordered.

  Background:
    Given today is 2026-11-29

  @rule_zur_cns_depressant
  Scenario Outline: Zuranolone ordered for a patient taking <depressant>
    Given a 28 year old woman
    And she is prescribed <depressant> since 2 months ago
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees a warning card from rule "zur-cns-depressant"
    And the card says "increased sedation and respiratory depression risk"
    And the card says "40 mg once daily in the evening"
    And the card says "<depressant>"

    Examples: Benzodiazepines
      | depressant       |
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

    Examples: Opioids
      | depressant    |
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

    Examples: Z-hypnotics and orexin antagonists
      | depressant  |
      | zolpidem    |
      | eszopiclone |
      | zaleplon    |
      | suvorexant  |

    Examples: Tricyclic antidepressants
      | depressant    |
      | amitriptyline |
      | nortriptyline |
      | imipramine    |
      | doxepin       |
      | clomipramine  |
      | desipramine   |

    Examples: Gabapentinoids and barbiturates
      | depressant    |
      | gabapentin    |
      | pregabalin    |
      | phenobarbital |
      | primidone     |

  @rule_zur_cns_depressant
  Scenario: An opioid prescribed after a caesarean section, while she takes zuranolone
    Given a 28 year old woman
    And she is prescribed zuranolone 50 mg once daily since 2 days ago
    And a draft order for oxycodone 5 mg three times daily for 5 days
    When the clinician signs the draft order
    Then the clinician sees a warning card from rule "zur-cns-depressant"
    And the card says "oxycodone"

  @rule_zur_cns_depressant
  Scenario: Opening the chart of a patient on zuranolone and lorazepam
    Given a 28 year old woman
    And she is prescribed zuranolone 50 mg once daily since 2 days ago
    And she is prescribed lorazepam 1 mg twice daily since 1 month ago
    When her chart is opened
    Then the clinician sees a warning card from rule "zur-cns-depressant"

  @rule_zur_cns_depressant
  Scenario: A benzodiazepine that was stopped does not count
    Given a 28 year old woman
    And she was prescribed lorazepam but it was stopped
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees no card from rule "zur-cns-depressant"

  @rule_zur_cns_depressant
  Scenario: An SSRI is not a CNS depressant for this rule
    Given a 28 year old woman
    And she is prescribed sertraline 100 mg once daily since 6 months ago
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees no card from rule "zur-cns-depressant"

  @rule_zur_cns_depressant
  Scenario: Signing an unrelated order does not raise the CNS depressant card
    Given a 28 year old woman
    And she is prescribed zuranolone 50 mg once daily since 2 days ago
    And she is prescribed lorazepam 1 mg twice daily since 1 month ago
    And a draft order for ibuprofen (RxNorm 5640) 400 mg three times daily
    When the clinician signs the draft order
    Then the clinician sees no card from rule "zur-cns-depressant"

  # -- alcohol use disorder (a condition, not a medication) -------------------------------------

  @rule_zur_alcohol
  Scenario: Zuranolone ordered for a patient with alcohol use disorder
    Given a 34 year old woman
    And she has alcohol use disorder since 3 years ago
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees a warning card from rule "zur-alcohol"
    And the card says "alcohol use disorder"
    And the card says "advise no alcohol during the 14-day course"

  @rule_zur_alcohol
  Scenario: Opening the chart of a patient on zuranolone with alcohol dependence
    Given a 34 year old woman
    And she is prescribed zuranolone 50 mg once daily since 6 days ago
    And she has alcohol dependence
    When her chart is opened
    Then the clinician sees a warning card from rule "zur-alcohol"

  @rule_zur_alcohol
  Scenario: Alcohol use disorder in remission does not trigger the card
    Given a 34 year old woman
    And she had alcohol use disorder, now in remission
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees no card from rule "zur-alcohol"

  @rule_zur_alcohol
  Scenario: Alcohol use disorder without zuranolone
    Given a 34 year old woman
    And she has alcohol use disorder since 3 years ago
    And she was prescribed zuranolone but it was stopped
    When her chart is opened
    Then the clinician sees no card from rule "zur-alcohol"
