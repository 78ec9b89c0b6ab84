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
