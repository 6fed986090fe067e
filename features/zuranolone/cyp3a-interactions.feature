Feature: Zuranolone with CYP3A4 inhibitors and inducers
  Zuranolone is cleared by CYP3A4. With a strong CYP3A4 inhibitor the label dose is 30 mg once
  daily in the evening (no change for moderate inhibitors); CYP3A4 inducers lower its exposure
  and the label advises avoiding them. On an order the card appears whichever drug of the pair is
  being ordered.

  Background:
    Given today is 2026-11-29

  # -- strong CYP3A4 inhibitors: dose above 30 mg/day ------------------------------------------

  @rule_zur_strong_3a4_inhibitor
  Scenario Outline: Zuranolone 50 mg ordered for a patient taking <inhibitor>
    Given a 33 year old woman
    And she is prescribed <inhibitor> since 1 week ago
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees a warning card from rule "zur-strong-3a4-inhibitor"
    And the card says "label dose is 30 mg once daily in the evening"
    And the card says "<inhibitor>"
    And the card says "50 mg/day"
    And the card suggests "Change zuranolone to 30 mg once daily in the evening"

    Examples: Strong CYP3A4 inhibitors
      | inhibitor      |
      | ketoconazole   |
      | itraconazole   |
      | clarithromycin |
      | posaconazole   |
      | voriconazole   |
      | ritonavir      |

  @rule_zur_strong_3a4_inhibitor
  Scenario: A strong inhibitor started during the zuranolone course
    Given a 33 year old woman
    And she is prescribed zuranolone 50 mg once daily since 3 days ago
    And a draft order for clarithromycin 500 mg twice daily for 7 days
    When the clinician signs the draft order
    Then the clinician sees a warning card from rule "zur-strong-3a4-inhibitor"
    And the card says "clarithromycin"

  # order-select: context.selections names the order just chosen; the session's other
  # unsigned orders are context, not the order being placed
  @rule_zur_strong_3a4_inhibitor
  Scenario: A strong inhibitor selected after zuranolone was drafted in the same session
    Given a 33 year old woman
    And a draft order for zuranolone 50 mg once daily for 14 days
    And a draft order for clarithromycin 500 mg twice daily for 7 days
    When the clinician selects clarithromycin among the draft orders
    Then the clinician sees a warning card from rule "zur-strong-3a4-inhibitor"
    And the card says "clarithromycin"

  @rule_zur_strong_3a4_inhibitor
  Scenario: Selecting an unrelated order later in the session does not repeat the card
    Given a 33 year old woman
    And she is prescribed ketoconazole since 1 week ago
    And a draft order for zuranolone 50 mg once daily for 14 days
    And a draft order for ibuprofen (RxNorm 5640) 400 mg three times daily
    When the clinician selects ibuprofen among the draft orders
    Then the clinician sees no card from rule "zur-strong-3a4-inhibitor"

  @rule_zur_strong_3a4_inhibitor
  Scenario: Opening the chart of a patient already on both drugs
    Given a 33 year old woman
    And she is prescribed zuranolone 50 mg once daily since 3 days ago
    And she is prescribed itraconazole 200 mg once daily since 2 months ago
    When her chart is opened
    Then the clinician sees a warning card from rule "zur-strong-3a4-inhibitor"

  @rule_zur_strong_3a4_inhibitor
  Scenario: Zuranolone already ordered at the labelled 30 mg dose
    Given a 33 year old woman
    And she is prescribed ketoconazole 200 mg once daily since 1 week ago
    And a draft order for zuranolone 30 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees no card from rule "zur-strong-3a4-inhibitor"

  @rule_zur_strong_3a4_inhibitor
  Scenario: A moderate CYP3A4 inhibitor needs no dose change
    Given a 33 year old woman
    And she is prescribed fluconazole (RxNorm 4450) 150 mg once daily
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees no card from rule "zur-strong-3a4-inhibitor"

  @rule_zur_strong_3a4_inhibitor
  Scenario: The strong inhibitor was stopped
    Given a 33 year old woman
    And she was prescribed ketoconazole but it was stopped
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees no card from rule "zur-strong-3a4-inhibitor"

  @rule_zur_strong_3a4_inhibitor
  Scenario: No card when the zuranolone dose is not written on the order
    Given a 33 year old woman
    And she is prescribed ketoconazole 200 mg once daily since 1 week ago
    And a draft order for zuranolone
    When the clinician selects the draft order
    Then the clinician sees no card from rule "zur-strong-3a4-inhibitor"

  @rule_zur_strong_3a4_inhibitor
  Scenario: Signing an unrelated order does not raise the inhibitor card
    Given a 33 year old woman
    And she is prescribed zuranolone 50 mg once daily since 3 days ago
    And she is prescribed ketoconazole 200 mg once daily since 1 week ago
    And a draft order for ibuprofen (RxNorm 5640) 400 mg three times daily
    When the clinician signs the draft order
    Then the clinician sees no card from rule "zur-strong-3a4-inhibitor"

  # -- CYP3A4 inducers: avoid ------------------------------------------------------------------

  @rule_zur_3a4_inducer
  Scenario Outline: Zuranolone ordered for a patient taking <inducer>
    Given a 30 year old woman
    And she is prescribed <inducer> since 6 months ago
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees a warning card from rule "zur-3a4-inducer"
    And the card says "label advises avoiding the combination"
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

  @rule_zur_3a4_inducer
  Scenario: St John's wort bought over the counter is an inducer too
    Given a 30 year old woman
    And she reports taking "St John's wort 300 mg three times a day" for 2 months
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees a warning card from rule "zur-3a4-inducer"
    And the card says "St John's wort"

  @rule_zur_3a4_inducer
  Scenario: Rifampin ordered for a patient in her zuranolone course
    Given a 30 year old woman
    And she is prescribed zuranolone 50 mg once daily since 4 days ago
    And a draft order for rifampin 600 mg once daily for 120 days
    When the clinician signs the draft order
    Then the clinician sees a warning card from rule "zur-3a4-inducer"

  @rule_zur_3a4_inducer
  Scenario: The inducer was stopped
    Given a 30 year old woman
    And she was prescribed carbamazepine but it was stopped
    And a draft order for zuranolone 50 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees no card from rule "zur-3a4-inducer"

  @rule_zur_3a4_inducer
  Scenario: A CYP3A4 inhibitor is not an inducer
    Given a 30 year old woman
    And she is prescribed ketoconazole 200 mg once daily since 1 week ago
    And a draft order for zuranolone 30 mg once daily for 14 days
    When the clinician selects the draft order
    Then the clinician sees no card from rule "zur-3a4-inducer"

  @rule_zur_3a4_inducer
  Scenario: Signing an unrelated order does not raise the inducer card
    Given a 30 year old woman
    And she is prescribed zuranolone 50 mg once daily since 4 days ago
    And she is prescribed rifampin 600 mg once daily since 2 months ago
    And a draft order for ibuprofen (RxNorm 5640) 400 mg three times daily
    When the clinician signs the draft order
    Then the clinician sees no card from rule "zur-3a4-inducer"
