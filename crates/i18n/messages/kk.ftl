# Komek хабарламалары қазақ тілінде. Кілттер en.ftl-дегідей.

## Categories of need
category-veteran-aid = Ардагерлер мен жалғыз қарттарға көмек
category-fuel-delivery = Көмір мен отын жеткізу
category-search-operation = Жоғалған адамды іздеу
category-psychological-support = Психологиялық қолдау
category-material-aid = Материалдық көмек
category-emergency-hq = Төтенше штаб
category-consultation = Кеңес беру
category-other = Басқа

## Priorities
priority-low = Төмен
priority-normal = Қалыпты
priority-high = Жоғары
priority-critical = Шұғыл

## Skills of volunteer groups
skill-search-rescue = Іздеу-құтқару
skill-first-aid = Алғашқы көмек
skill-vehicle-cargo = Жүк көлігі
skill-psychologist = Психолог
skill-social-care = Әлеуметтік күтім
skill-medical = Медициналық көмек
skill-legal-advice = Заң кеңесі
skill-general-labour = Қара жұмыс
skill-drone-operator = Дрон операторы
skill-dog-handler = Кинолог

## Roles
role-admin = Әкімші
role-dispatcher = Диспетчер
role-volunteer = Ерікті
role-partner = Серіктес ұйым
role-service = Қызмет

## Languages
language-kazakh = Қазақша
language-russian = Орысша
language-english = Ағылшынша

## How a request came in
channel-hotline = Жедел желі
channel-partner = Серіктес ұйым
channel-app = Қосымша

## Request statuses
request-status-new = Жаңа
request-status-triaged = Сұрыпталды
request-status-dispatching = Топқа ұсынылды
request-status-assigned = Тағайындалды
request-status-in-progress = Орындалуда
request-status-resolved = Орындалды
request-status-closed = Жабылды
request-status-merged = Басқасымен біріктірілді
request-status-escalated = Диспетчерге жіберілді
request-status-cancelled = Күші жойылды

## Assignment statuses
assignment-status-offered = Ұсынылды
assignment-status-accepted = Қабылданды
assignment-status-declined = Бас тартылды
assignment-status-expired = Мерзімі өтті
assignment-status-withdrawn = Кері алынды
assignment-status-en-route = Жолда
assignment-status-on-site = Орнында
assignment-status-completed = Орындалды
assignment-status-aborted = Тоқтатылды

## How a request ended
outcome-helped = Көмек көрсетілді
outcome-partially-helped = Көмек ішінара көрсетілді
outcome-no-longer-needed = Енді қажет емес
outcome-person-found = Адам табылды
outcome-person-not-found = Адам табылмады
outcome-referred = Басқа мекемеге жіберілді
outcome-caller-unreachable = Өтініш берушімен байланыс жоқ

## Group availability
availability-available = Бос
availability-busy = Бос емес
availability-off-duty = Кезекшілікте емес

## Why a group was not chosen
ineligible-reason-outside-service-area = Қызмет аймағынан тыс
ineligible-reason-not-available = Қолжетімсіз
ineligible-reason-no-capacity = Бос орын жоқ
ineligible-reason-missing-skill = Қажетті дағды жоқ
ineligible-reason-certification-expired = Рұқсат мерзімі өтті
ineligible-reason-off-shift = Ауысымда емес
ineligible-reason-stale-location = Орналасқан жері ескірген
ineligible-reason-already-declined = Бұрын бас тартқан немесе ұсынысты өткізіп алған
ineligible-reason-resting = Тапсырмадан кейін демалуда
ineligible-reason-not-nearest = Жақынырақ топ таңдалды
ineligible-reason-no-location = Өтінімнің координаттары жоқ
ineligible-reason-no-groups = Тіркелген топ жоқ
ineligible-reason-insufficient-payload = Жүк көтергіштігі жеткіліксіз

## Days of the week
day-of-week-monday = Дүйсенбі
day-of-week-tuesday = Сейсенбі
day-of-week-wednesday = Сәрсенбі
day-of-week-thursday = Бейсенбі
day-of-week-friday = Жұма
day-of-week-saturday = Сенбі
day-of-week-sunday = Жексенбі

## Kinds of organisation
organization-kind-ngo = ҮЕҰ
organization-kind-red-crescent = Қызыл Жарты Ай
organization-kind-youth-wing = Жастар қанаты
organization-kind-akimat-service = Әкімдік қызметі
organization-kind-informal = Бейресми топ

## Dispatchers' queues
queue-escalated = Диспетчерге жіберілгендер
queue-unassigned = Тағайындалмағандар
queue-overdue = Мерзімі өткендер

## Volunteers' progress
progress-step-en-route = Жолда
progress-step-on-site = Орнында
progress-step-completed = Орындалды
progress-step-aborted = Тоқтатылды

## Settlement kinds
settlement-kind-city = қала
settlement-kind-town = кент
settlement-kind-village = ауыл

## Counts
requests-count = { $count } өтінім

## The console
app-title = Көмек
nav-label = Тіркелгі және тіл
sign-in-title = Кіру
sign-in-key-label = Қолжетімділік кілтіңіз
sign-in-key-hint = Әкімші берген кілт. Ол көрсетілмейді және браузерде сақталмайды.
sign-in-submit = Кіру
sign-in-bad-key = Кілт жарамсыз, қайтарып алынған немесе мерзімі өткен.
sign-in-too-many = Әрекет тым көп. Бір минут күтіп, қайталап көріңіз.
sign-in-unavailable = Көмек қазір қолжетімсіз. Сәл кейін қайталап көріңіз.
sign-out = Шығу
signed-in-as = Кірген:
home-title = Диспетчер орны
home-queues = Диспетчерді күтуде
count-more-than = { $count }-ден көп
count-unavailable = қазір қолжетімсіз
form-refused-title = Жіберілмеді
form-refused = Бұл пішін осы консольдің бетінен келмеді, сондықтан ештеңе орындалмады. Бетті қайта ашып, қайталаңыз.
not-found-title = Бет табылмады
back-home = Басты бетке
places-label = Елді мекендер
places-none = Бұл атаумен елді мекен жоқ. Жазылуын тексеріңіз немесе ауданды енгізіңіз.
