# Komek's messages in English. Keys follow the protobuf enum names (CATEGORY_FUEL_DELIVERY is
# category-fuel-delivery); every key here is also in kk.ftl and ru.ftl.

## Categories of need
category-veteran-aid = Aid to veterans and lonely elderly people
category-fuel-delivery = Coal and firewood delivery
category-search-operation = Search for a missing person
category-psychological-support = Psychological support
category-material-aid = Material aid
category-emergency-hq = Emergency headquarters
category-consultation = Consultation
category-other = Other

## Priorities
priority-low = Low
priority-normal = Normal
priority-high = High
priority-critical = Critical

## Skills of volunteer groups
skill-search-rescue = Search and rescue
skill-first-aid = First aid
skill-vehicle-cargo = Cargo vehicle
skill-psychologist = Psychologist
skill-social-care = Social care
skill-medical = Medical help
skill-legal-advice = Legal advice
skill-general-labour = General labour
skill-drone-operator = Drone operator
skill-dog-handler = Dog handler

## Roles
role-admin = Administrator
role-dispatcher = Dispatcher
role-volunteer = Volunteer
role-partner = Partner organisation
role-service = Service

## Languages
language-kazakh = Kazakh
language-russian = Russian
language-english = English

## How a request came in
channel-hotline = Hotline
channel-partner = Partner organisation
channel-app = App
channel-plan = Recurring plan

## Request statuses
request-status-new = New
request-status-triaged = Triaged
request-status-dispatching = Offered to a group
request-status-assigned = Assigned
request-status-in-progress = In progress
request-status-resolved = Resolved
request-status-closed = Closed
request-status-merged = Merged into another
request-status-escalated = Escalated to dispatchers
request-status-cancelled = Cancelled

## Assignment statuses
assignment-status-offered = Offered
search-role-lead = leads the search
search-role-support = supports the search
app-wide-search = A search with several groups at once: the first group to accept leads it, the others support.
assignment-status-accepted = Accepted
assignment-status-declined = Declined
assignment-status-expired = Expired
assignment-status-withdrawn = Withdrawn
assignment-status-en-route = On the way
assignment-status-on-site = On site
assignment-status-completed = Completed
assignment-status-aborted = Aborted

## How a request ended
outcome-helped = Helped
outcome-partially-helped = Partly helped
outcome-no-longer-needed = No longer needed
outcome-person-found = Person found
outcome-person-not-found = Person not found
outcome-referred = Referred elsewhere
outcome-caller-unreachable = Caller unreachable

## Group availability
availability-available = Available
availability-busy = Busy
availability-off-duty = Off duty

## Why a group was not chosen
ineligible-reason-outside-service-area = Outside its service area
ineligible-reason-not-available = Not available
ineligible-reason-no-capacity = No free place
ineligible-reason-missing-skill = Lacks a needed skill
ineligible-reason-certification-expired = Certification expired
ineligible-reason-off-shift = Off shift
ineligible-reason-stale-location = Location out of date
ineligible-reason-already-declined = Already declined or let the offer expire
ineligible-reason-resting = Resting after a job
ineligible-reason-not-nearest = A nearer group was chosen
ineligible-reason-no-location = The request has no coordinates
ineligible-reason-no-groups = No groups registered
ineligible-reason-insufficient-payload = Vehicle too small for the load
ineligible-reason-unclassified = Triage was unsure what is needed: confirm the category
ineligible-reason-nothing-to-send = The note asks for nothing a group does: read it and close or re-triage
ineligible-reason-office-closed = Outside the organisation's office hours

## Days of the week
day-of-week-monday = Monday
day-of-week-tuesday = Tuesday
day-of-week-wednesday = Wednesday
day-of-week-thursday = Thursday
day-of-week-friday = Friday
day-of-week-saturday = Saturday
day-of-week-sunday = Sunday

## Kinds of organisation
organization-kind-ngo = NGO
organization-kind-red-crescent = Red Crescent
organization-kind-youth-wing = Youth wing
organization-kind-akimat-service = Akimat service
organization-kind-informal = Informal group

## Dispatchers' queues
queue-escalated = Escalated
queue-unassigned = Unassigned
queue-overdue = Overdue

## Volunteers' progress
progress-step-en-route = On the way
progress-step-on-site = On site
progress-step-completed = Completed
progress-step-aborted = Aborted

## Settlement kinds
settlement-kind-city = city
settlement-kind-town = town
settlement-kind-village = village

## Counts
requests-count =
    { $count ->
        [one] { $count } request
       *[other] { $count } requests
    }

## The console
app-title = Komek
nav-label = Account and language
sign-in-title = Sign in
sign-in-key-label = Your access key
sign-in-key-hint = The key your administrator gave you. It is not shown and not kept in this browser.
sign-in-submit = Sign in
sign-in-bad-key = This key is not valid, or it was revoked or has expired.
sign-in-too-many = Too many attempts. Wait a minute and try again.
sign-in-unavailable = Komek cannot be reached right now. Try again in a moment.
sign-out = Sign out
signed-in-as = Signed in as
home-title = Dispatcher's desk
home-queues = Waiting for a dispatcher
count-more-than = more than { $count }
count-unavailable = not available now
form-refused-title = Not sent
form-refused = This form did not come from this console's own page, so it was not acted on. Open the page again and retry.
not-found-title = Page not found
back-home = Back to the start page
places-label = Settlements
places-none = No settlement by that name. Check the spelling, or type the district.
menu-label = Sections
menu-new-call = New call
menu-queues = Queues
menu-roster = Groups
menu-find = Reference code…
reference-code = Reference code

## Times
ago-minutes =
    { $count ->
        [one] { $count } minute
       *[other] { $count } minutes
    }
ago-hours =
    { $count ->
        [one] { $count } hour
       *[other] { $count } hours
    }
ago-days =
    { $count ->
        [one] { $count } day
       *[other] { $count } days
    }

## Units
unit-t = tonnes
unit-m3 = cubic metres
unit-kg = kg
unit-pcs = pieces

## Fields of requests, as refusals name them
field-caller = Caller
field-caller-display-name = Caller's name
field-caller-phone = Phone
field-caller-preferred-language = Caller's language
field-channel = How the call came in
field-location = Place
field-location-address = Address or landmark
field-description = What the caller needs
field-operator-category = Kind of help
field-operator-priority = Urgency
field-category = Kind of help
field-priority = Urgency
field-volunteer-note = What volunteers are told
field-people-count = People who need help
field-quantity = Quantity
field-wanted-window = When help is wanted
field-status = Status
field-region = Region
field-district = District
field-reason = Reason
field-group = Group
field-merge-into = The request it repeats
field-name = Request
field-request-id = Form
field-etag = Version of the request
field-organization = Organisation
field-csv = CSV
field-required-skills = Skills
field-other = a field of the form

## Refusals from Komek, as sentences
refusal-fields = Please check: { $fields }.
refusal-invalid = Some of what was entered is not valid. Please check the form.
refusal-permission = Your key does not allow this. Ask an administrator if you need it.
refusal-unauthenticated = Your session is no longer valid. Sign in again.
refusal-not-found = This no longer exists, or it is not in your regions.
refusal-already-exists = This form was already sent with other values. Open it again and retry.
refusal-precondition = The request has changed and this cannot be done now (for example it is already assigned, finished, or the group has no free place). Look at its state and try again.
refusal-aborted = Someone changed this at the same moment. Look at it again and retry.
refusal-exhausted = Too many requests right now. Wait a moment and retry.
refusal-unavailable = Komek cannot be reached right now. Nothing was lost: send again in a moment.
refusal-internal = Something went wrong on Komek's side. Send again; if it repeats, tell the administrator.

## New call
call-title = New call
call-channel = How the call came in
call-anonymous = The caller wishes to stay anonymous
call-caller = Caller
call-caller-language = Language the caller speaks
call-not-said = Not said
call-phone-hint = Kazakhstan 8 7xx… or +7…, Belarus +375… or 80…
call-phone-error = Not a phone number Komek accepts: type a Kazakh number as 8 701 555 44 21 or +7 701 555 44 21, a Belarusian one as +375 29 123 45 67.
call-name-error = The name is too long or has characters that are not allowed.
call-place = Settlement
call-place-error = Choose the settlement from the suggestions (type its name, then pick it with the arrow keys and Enter).
call-text-error = Too long, or has characters that are not allowed.
call-note-error = Write what the caller needs (it must not be empty).
call-number-error = Type a number, like 2 or 2.5.
call-pick-one = Several settlements have this name: choose one.
call-volunteer-note-hint = Optional, no personal data. Left empty, it is the note above with phone numbers, e-mail addresses, document numbers and the caller's name cut out.
call-unit = Unit
call-triage-decides = Let triage decide
call-save = Save the call
call-save-hint = Ctrl+Enter also saves.
saved-title = Call saved
saved-read-back = Read the reference code back to the caller:
saved-next-call = Next call
saved-open-request = Open the request

## Queues
queues-title = Queues
queues-filters = Filters
queues-all-regions = All regions
queues-any = Any
queues-min-priority = At least this urgent
queues-apply = Show
queues-empty = Nothing waiting here.
queues-waiting = Waiting
queues-why = Why
queues-map-label = The requests of this page
queues-next-page = Next 100

## Request page
request-title = Request
request-title-code = Request { $code }
request-summary = Summary
request-group-position = Group on the way, last reported
request-created = Recorded
caller-anonymous = Anonymous
caller-unknown = Not given
caller-hidden = Hidden
triage-title = Triage
triage-overridden = set by a dispatcher
triage-unclassified = Unclassified: triage was unsure what this request needs and nobody has been sent. Read the note, then set the category below.
triage-skills = Skills
triage-confidence = Confidence { $percent }%.
triage-part-model-category = Model, type of help
triage-part-model-priority = Model, urgency
triage-part-model-critical-risk = Model: a life may be at risk
triage-part-rule-category = Rule, type of help
triage-part-rule-priority = Rule, urgency
triage-part-closure = Rule: nothing new is needed
triage-part-numbers = Numbers in the note
triage-part-unclassified = Unsure
triage-part-duplicate = Possible repeat
triage-part-operator = Set by the operator
triage-pending = Triage has not decided yet.
duplicates-title = Duplicates
duplicate-of = Probably repeats
merged-into = Merged into
timeline-title = What happened
step-recorded = Call recorded
step-triaged = Triaged
step-triage-overridden = Triage changed by a dispatcher
step-offered = Offer { $attempt } to
step-escalated = Escalated to dispatchers
decisions-title = Matching decisions
decisions-none = No group has been considered yet.
candidate-group = Group
candidate-distance = Distance
candidate-verdict = Decision
candidate-chosen = Chosen
candidate-eligible = Could take it
audit-title = Audit trail
audit-none = No one has acted on this request yet.
audit-when = When
audit-who = Who
audit-what = What
audit-reason = Reason
audit-triage = Triage
audit-action-assignrequest = Assigned by hand
audit-action-reassignrequest = Reassigned
audit-action-withdrawassignment = Withdrawn from the group
audit-action-createcampaign = Assigned in a campaign
actor-komek = Komek
actions-title = Actions
action-group = Group
action-reason = Reason (kept in the audit)
action-assign = Assign to a group
action-assign-submit = Assign
action-reassign = Give to another group
action-reassign-submit = Reassign
action-withdraw = Take back from the group
action-withdraw-submit = Withdraw
action-override = Correct the triage
action-override-submit = Save the correction
action-merge = Merge as a duplicate
action-merge-hint = The reference code of the request this one repeats.
action-merge-submit = Merge
action-cancel = Cancel the request
action-cancel-submit = Cancel the request
action-done-assign = Assigned. The group has the offer now.
action-done-reassign = Reassigned.
action-done-withdraw = Withdrawn. The request waits in the unassigned queue.
action-done-override = Triage corrected.
action-done-merge = Merged.
action-done-cancel = Cancelled.
action-erase = Erase the caller's personal data
action-erase-hint = The caller's name, phone and address, the call note and the volunteers' notes are erased for good, everywhere Komek keeps them. Category, place, status and times stay for reports.
action-erase-submit = Erase for good
action-done-erase = Personal data erased.
request-erased = Personal data erased
request-erased-retention = the retention period ended
request-erased-note = The note was erased with the caller's personal data.
find-title = Find a request
find-none = No request has the reference code “{ $code }”. Check it with the caller.

## Map
map-title = Map
map-tools = Map zoom
map-zoom-in = Zoom in
map-zoom-out = Zoom out
map-zoom-reset = Whole country
map-request-label = The request and the groups considered for it
map-legend-request = The request
map-legend-chosen = Chosen group
map-legend-candidate = Other candidate
map-legend-position = Group on the way
map-legend-away = Off duty or off shift

## Roster
roster-title = Groups and organisations
roster-map-label = Volunteer groups and whether they can take work now
roster-groups = Groups
roster-group = Group
roster-organization = Organisation
roster-organizations = Organisations
roster-state = Now
roster-capacity = Places
roster-no-groups = No groups here.
group-off-shift = Off shift
roster-actions = Action
group-deactivated = Deactivated
group-deactivate = Deactivate…
group-deactivate-reason = Reason (for example, the team disbanded)
group-deactivate-confirm = Deactivate
group-reactivate = Reactivate
import-title = Import a roster from a file
import-csv = Or paste the table here (with its header row)
import-hint = CSV (any separator, UTF-8 or Windows-1251), XLSX, XLS or ODS; columns may be named in Kazakh, Russian or English. Kazakh letters survive only in XLSX and "CSV UTF-8": Windows-1251 has none. Nothing changes until you confirm the preview.
import-file = File: CSV, XLSX, XLS or ODS
import-preview = Check what would change
import-apply = Apply these changes
import-would = This would create { $groups_created } and update { $groups_updated } groups, and create { $volunteers_created } and update { $volunteers_updated } volunteers.
import-applied = Done: { $groups_created } groups created, { $groups_updated } updated; { $volunteers_created } volunteers created, { $volunteers_updated } updated.
import-errors =
    { $count ->
        [one] One row has a problem. Nothing changes until it is fixed:
       *[other] { $count } rows have problems. Nothing changes until they are fixed:
    }
import-line = Line
import-column = Column
import-problem-number = Not a number.
import-problem-whole = Must be a whole number.
import-problem-column = A required column is missing.
import-problem-empty = The file is empty.
import-problem-too-many = Too many rows: at most 5,000 per import.
import-problem-unreadable = The file cannot be read: it must be CSV, XLSX, XLS or ODS (without a password).
import-problem-quote = A quotation mark is not closed.
import-problem-unknown-column = Unknown column: correct its name or remove it.
import-problem-skill = Unknown skill.
import-problem-value = This value is not accepted.
import-problem = Problem
import-read-csv = Read as CSV: encoding { $encoding }, separator "{ $delimiter }", { $rows } rows under the header.
import-read-book = Read as { $format }: sheet "{ $sheet }", { $rows } rows under the header.
import-tab = tab

## The volunteer's app
volunteer-app-title = Volunteer
volunteer-app-short = Komek
app-sign-in-how = Ask your dispatcher for a sign-in link for this phone and open it here.
app-link-title = Sign-in link for a phone
app-link-explain = Send this link to the volunteer's phone (or open it there). It signs that phone in once.
app-link-qr = QR code of the link: point the phone's camera at it
app-link-valid = Works once, for { $minutes } minutes.
app-link-expired = This sign-in link has been used or has expired. Ask your dispatcher for a new one.
app-join-explain = This signs this phone in as the volunteer the dispatcher chose. Do it only on your own phone.
app-join-submit = Sign in on this phone
app-jobs = My jobs
app-job-open = Open the job
app-offers = Offers
app-connecting = Connecting…
app-live = Live: new offers appear here.
app-offline = No connection. Retrying; the last offers stay on screen.
app-no-offers = No offers right now.
app-people = { $count ->
        [one] { $count } person
       *[other] { $count } people
    }
app-answer-until = Answer within
app-accept = Accept
app-decline = Decline
app-decline-why = Why not
decline-busy = We are busy with another job
decline-too-far = Too far for us now
decline-no-vehicle = No vehicle available
decline-not-our-work = Not the kind of help we give
app-back = Back to offers
app-job-title = Job
app-call = Call
app-open-map = Open in the map app
app-en-route = We are on the way
app-on-site = We have arrived
app-completed = Done
app-outcome = How it ended
app-note = Note (optional)
app-abort = We cannot finish this job
app-abort-why = Why
roster-sign-in-title = Sign a volunteer's phone in
roster-volunteer = Volunteer
roster-make-link = Make a one-time link

## The partners' portal
partner-title = Partner portal
partner-find = Find
partner-stats = Statistics
partner-requests = Requests
partner-none = No requests in your scope yet.
partner-outcome = Outcome
partner-updated = Last change
partner-status-title = Request status
partner-back = Back to the portal
partner-from = From
partner-to = To
partner-group-by = By
partner-by-category = Kind of help
partner-by-status = Status
partner-by-region = Region
partner-by-district = District
partner-by-month = Month
partner-by-organization = Organisation
partner-by-group = Group
partner-by-channel = How it came
partner-no-group = No group yet
partner-requests-count = Requests
partner-people-helped = People helped
partner-assign-median = Hours to assign, median
partner-assign-p90 = Hours to assign, 90th percentile
partner-complete-median = Hours to complete, median
partner-complete-p90 = Hours to complete, 90th percentile
partner-total = Total
partner-hours-hint = Times in hours from the call. Merged duplicates are counted once.
partner-no-stats = No requests in this period.
partner-chart-label = Requests per row of the table

## The komek command line
offer-event-kind-pending = Open offer
offer-event-kind-offered = New offer
offer-event-kind-withdrawn = Withdrawn
offer-event-kind-expired = Expired
offer-event-kind-taken = Taken by others
cli-error-invalid = Refused
cli-error-not-found = Not found
cli-error-denied = Not allowed (check the key)
cli-error-unavailable = The service is not available now; try again
cli-no-key = No key: give --key, set KOMEK_KEY, or put key = "..." in ~/.config/komek/cli.toml
cli-error-other = Failed
cli-recorded = Call recorded. Reference code for the caller: { $code }
cli-cancelled = Request { $code } cancelled.
cli-erased = Personal data of request { $code } erased for good.
cli-withdrawn = Request { $code }: the assignment is now { $status }.
cli-assigned = Request { $code } offered: { $status }.
cli-assignment-now = Request { $code }: { $status }.
cli-availability-set = { $group } is now: { $state }.
cli-place-unknown = No settlement called “{ $place }” is known; check the spelling or give --lat and --lon.
cli-place-ambiguous = Several settlements match; add --region: { $list }
cli-field-code = Reference code
cli-field-status = Status
cli-field-category = Kind of help
cli-field-priority = Priority
cli-field-place = Place
cli-field-note = Note
cli-field-assignment = Group
cli-field-created = Recorded
cli-field-triage = How triage read the note:
cli-field-decision = Matching, attempt
cli-decision-escalated = handed to dispatchers
cli-decision-offered = offered
cli-col-group = Group
cli-col-distance = Distance
cli-col-reasons = Why not
cli-col-why-here = Why it is here
cli-col-code = Code
cli-col-priority = Priority
cli-col-category = Kind of help
cli-col-place = Place
cli-col-since = Waiting since
cli-col-name = Name
cli-col-role = Role
cli-col-subject = For
cli-col-created = Created
cli-col-revoked = Revoked
cli-col-requests = Requests
cli-col-people = People helped
cli-col-assign-hours = Median hours to assign
cli-col-complete-hours = Median hours to complete
cli-queue-empty = The queue is empty.
cli-every-region = every region
cli-watching = Watching { $region }; Ctrl-C stops.
cli-import-checked = Checked { $rows } rows: { $groups } groups, { $volunteers } volunteers; { $errors } problems. Nothing was changed.
cli-import-done = Imported { $rows } rows: { $groups } groups, { $volunteers } volunteers; { $errors } problems.
cli-import-checking = Checking every row…
cli-import-writing = Writing…
cli-key-created = Key { $name } created. Its secret, shown only now:
cli-key-revoked = Key { $name } revoked.
cli-total = Total
cli-offers-waiting = Waiting for offers; Ctrl-C stops.

# Requests waiting too long in a state
waiting-state-new = Not triaged yet
waiting-state-triaged = Not offered to a group yet
waiting-state-escalated = Waiting for a dispatcher
waiting-state-unassigned = Left without a group
queues-late = Waiting too long: { $count }
queues-late-limit = limit { $minutes } min
request-dispatch-at = Waits for the organisation's office hours; goes to a group at
request-waiting-too-long = Waiting too long

# Recurring plans
menu-plans = Plans
plans-title = Recurring plans
plans-intro = A plan makes its requests itself on its schedule; while a person's previous request is open, no new one is made for them.
plans-none = No plans yet.
plans-next = Next time:
plans-paused-why = Paused
plans-serves = Serves { $count } people
plans-runs = Latest runs
plans-no-runs = Has not run yet.
plans-skipped = Skipped
plans-pause = Pause…
plans-pause-reason = Reason (for example, the road is closed by snow)
plans-pause-confirm = Pause
plans-resume = Resume
plan-state-active = Active
plan-state-paused = Paused
plan-state-ended = Ended
