Feature: Ganaxolone with strong or moderate CYP3A4 inducers
  CYP3A4 inducers lower ganaxolone exposure (with rifampin: peak down 57%, AUC down 68%), which may
  reduce seizure control. Avoid the combination; if it cannot be avoided, consider a higher
  ganaxolone dose, never above the maximum. On an order the card appears whichever drug of the
  pair is being ordered.

  Background:
    Given today is 2026-11-29

  @rule_ganax_inducer
  Scenario Outline: Ganaxolone ordered for a patient taking <inducer>
    Given a 12 year old boy
    And he is prescribed <inducer> since 1 year ago
    And a draft order for ganaxolone 400 mg three times daily for 30 days
    When the clinician selects the draft order
    Then the clinician sees a warning card from rule "ganax-inducer"
    And the card says "lowers exposure"
    And the card says "not above max"
    And the card says "<inducer>"

    Examples: Strong CYP3A4 inducers
      | inducer       |
      | rifampin      |
      | carbamazepine |
      | phenytoin     |
      | phenobarbital |
      | primidone     |

    Examples: Moderate CYP3A4 inducers
      | inducer   |
      | efavirenz |
      | bosentan  |
      | modafinil |
      | rifabutin |

  @rule_ganax_inducer
  Scenario: St John's wort given by the family
    Given a 12 year old boy
    And he reports taking "St John's wort 300 mg daily" for 3 months
    And a draft order for ganaxolone 400 mg three times daily for 30 days
    When the clinician selects the draft order
    Then the clinician sees a warning card from rule "ganax-inducer"

  @rule_ganax_inducer
  Scenario: Rifampin ordered for a child on ganaxolone
    Given a 12 year old boy
    And he is prescribed ganaxolone 400 mg three times daily since 1 year ago
    And a draft order for rifampin 300 mg once daily for 120 days
    When the clinician signs the draft order
    Then the clinician sees a warning card from rule "ganax-inducer"
    And the card says "rifampin"

  @rule_ganax_inducer
  Scenario: Phenytoin that was stopped does not count
    Given a 12 year old boy
    And he was prescribed phenytoin but it was stopped
    And a draft order for ganaxolone 400 mg three times daily for 30 days
    When the clinician selects the draft order
    Then the clinician sees no card from rule "ganax-inducer"

  @rule_ganax_inducer
  Scenario: A CYP3A4 inhibitor is not an inducer
    Given a 12 year old boy
    And he is prescribed clarithromycin 250 mg twice daily since 3 days ago
    And a draft order for ganaxolone 400 mg three times daily for 30 days
    When the clinician selects the draft order
    Then the clinician sees no card from rule "ganax-inducer"

  @rule_ganax_inducer
  Scenario: An antiseizure drug that does not induce CYP3A4
    Given a 12 year old boy
    And he is prescribed levetiracetam 500 mg twice daily since 1 year ago
    And a draft order for ganaxolone 400 mg three times daily for 30 days
    When the clinician selects the draft order
    Then the clinician sees no card from rule "ganax-inducer"
    And the clinician sees a warning card from rule "ganax-cns"

  @rule_ganax_inducer
  Scenario: Signing an unrelated order for a child on ganaxolone and carbamazepine
    Given a 12 year old boy
    And he is prescribed ganaxolone 400 mg three times daily since 1 year ago
    And he is prescribed carbamazepine 200 mg twice daily since 2 years ago
    And a draft order for acetaminophen (RxNorm 161) 320 mg three times daily
    When the clinician signs the draft order
    Then the clinician sees no card from rule "ganax-inducer"
