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
channel-plan = Жоспар бойынша

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
search-role-lead = іздеуді басқарады
search-role-support = іздеуге көмектеседі
app-wide-search = Бірнеше топ бірден іздейді: бірінші қабылдаған топ іздеуді басқарады, қалғандары көмектеседі.
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
ineligible-reason-unclassified = Сұрыптау не керек екенін анықтай алмады: санатты растаңыз
ineligible-reason-nothing-to-send = Топтың баруы керек емес: оқып, жабыңыз немесе санатын өзгертіңіз
ineligible-reason-office-closed = Ұйым жұмыс уақытынан тыс

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
menu-label = Бөлімдер
menu-new-call = Жаңа қоңырау
menu-queues = Кезектер
menu-roster = Топтар
menu-find = Өтінім коды…
reference-code = Өтінім коды

## Уақыт
ago-minutes = { $count } минут
ago-hours = { $count } сағат
ago-days = { $count } күн

## Өлшем бірліктері
unit-t = т
unit-m3 = м³
unit-kg = кг
unit-pcs = дана

## Өтінім өрістері, бас тартуларда аталатындай
field-caller = Өтініш беруші
field-caller-display-name = Өтініш берушінің аты
field-caller-phone = Телефон
field-caller-preferred-language = Өтініш берушінің тілі
field-channel = Өтінім қайдан түсті
field-location = Орны
field-location-address = Мекенжай немесе бағдар
field-description = Өтініш берушіге не керек
field-operator-category = Көмек түрі
field-operator-priority = Шұғылдығы
field-category = Көмек түрі
field-priority = Шұғылдығы
field-volunteer-note = Еріктілер көретін мәтін
field-people-count = Көмек керек адам саны
field-quantity = Мөлшері
field-wanted-window = Көмек қашан керек
field-status = Күйі
field-region = Облыс
field-district = Аудан
field-reason = Себебі
field-group = Топ
field-merge-into = Бұл өтінім қайталайтын өтінім
field-name = Өтінім
field-request-id = Пішін
field-etag = Өтінім нұсқасы
field-organization = Ұйым
field-csv = CSV
field-required-skills = Дағдылар
field-other = пішін өрісі

## Көмек бас тартулары, сөйлем түрінде
refusal-fields = Тексеріңіз: { $fields }.
refusal-invalid = Енгізілгеннің бір бөлігі дұрыс емес. Пішінді тексеріңіз.
refusal-permission = Кілтіңіз бұған рұқсат бермейді. Қажет болса, әкімшіге хабарласыңыз.
refusal-unauthenticated = Сеанс енді жарамсыз. Қайта кіріңіз.
refusal-not-found = Бұл енді жоқ немесе сіздің облыстарыңызға жатпайды.
refusal-already-exists = Бұл пішін басқа мәліметтермен жіберіліп қойған. Оны қайта ашып, қайталаңыз.
refusal-precondition = Өтінім өзгерді, қазір мұны істеу мүмкін емес (мысалы, ол тағайындалып қойған, жабылған немесе топта бос орын жоқ). Күйін қарап, қайталаңыз.
refusal-aborted = Дәл осы сәтте мұны басқа біреу өзгертті. Қайта қарап, қайталаңыз.
refusal-exhausted = Қазір сұраныс тым көп. Сәл күтіп, қайталаңыз.
refusal-unavailable = Көмек қазір қолжетімсіз. Ештеңе жоғалған жоқ: сәлден соң қайта жіберіңіз.
refusal-internal = Көмек жағында қате болды. Қайта жіберіңіз; қайталанса, әкімшіге хабарлаңыз.

## Жаңа қоңырау
call-title = Жаңа қоңырау
call-channel = Өтінім қайдан түсті
call-anonymous = Өтініш беруші аты-жөнін айтқысы келмейді
call-caller = Өтініш беруші
call-caller-language = Өтініш беруші сөйлейтін тіл
call-not-said = Айтылмады
call-phone-hint = Қазақстан 8 7xx… немесе +7…, Беларусь +375… немесе 80…
call-phone-error = Көмек мұндай нөмірді қабылдамайды: қазақстандық нөмірді 8 701 555 44 21 немесе +7 701 555 44 21, беларусьтік нөмірді +375 29 123 45 67 түрінде теріңіз.
call-name-error = Аты тым ұзын немесе рұқсат етілмеген таңбалар бар.
call-place = Елді мекен
call-place-error = Елді мекенді ұсыныстардан таңдаңыз (атауын тере бастаңыз, сосын бағыт пернелерімен және Enter арқылы таңдаңыз).
call-text-error = Тым ұзын немесе рұқсат етілмеген таңбалар бар.
call-note-error = Өтініш берушіге не керек екенін жазыңыз (бос болмауы керек).
call-number-error = Сан енгізіңіз, мысалы 2 немесе 2,5.
call-pick-one = Бұл атаумен бірнеше елді мекен бар: біреуін таңдаңыз.
call-volunteer-note-hint = Міндетті емес, жеке деректерсіз. Бос болса, жоғарыдағы мәтін телефондарсыз, e-mail-сіз, құжат нөмірлерінсіз және өтініш берушінің атынсыз көрсетіледі.
call-unit = Бірлік
call-triage-decides = Автоматты түрде анықталады
call-save = Қоңырауды сақтау
call-save-hint = Ctrl+Enter да сақтайды.
saved-title = Қоңырау сақталды
saved-read-back = Өтініш берушіге өтінім кодын айтып беріңіз:
saved-next-call = Келесі қоңырау
saved-open-request = Өтінімді ашу

## Кезектер
queues-title = Кезектер
queues-filters = Сүзгілер
queues-all-regions = Барлық облыс
queues-any = Кез келген
queues-min-priority = Шұғылдығы кемінде
queues-apply = Көрсету
queues-empty = Мұнда күтіп тұрған ештеңе жоқ.
queues-waiting = Күтуде
queues-why = Себебі
queues-map-label = Осы беттегі өтінімдер
queues-next-page = Келесі 100

## Өтінім беті
request-title = Өтінім
request-title-code = Өтінім { $code }
request-summary = Қысқаша
request-group-position = Жолдағы топ, соңғы орны
request-created = Тіркелді
caller-anonymous = Аты-жөні жасырын
caller-unknown = Көрсетілмеген
caller-hidden = Жасырылған
triage-title = Сұрыптау
triage-overridden = диспетчер белгіледі
triage-unclassified = Сұрыпталмаған: жүйе не керек екенін анықтай алмады, ешкім жіберілмеді. Жазбаны оқып, төменде санатты көрсетіңіз.
triage-skills = Дағдылар
triage-confidence = Сенімділік { $percent }%.
triage-part-model-category = Модель, көмек түрі
triage-part-model-priority = Модель, шұғылдық
triage-part-model-critical-risk = Модель: өмірге қауіп болуы мүмкін
triage-part-rule-category = Ереже, көмек түрі
triage-part-rule-priority = Ереже, шұғылдық
triage-part-closure = Ереже: жаңа көмек керек емес
triage-part-numbers = Жазбадағы сандар
triage-part-unclassified = Сенімсіз
triage-part-duplicate = Қайталануы мүмкін
triage-part-operator = Операторы белгіледі
triage-pending = Сұрыптау әлі шешкен жоқ.
duplicates-title = Қайталаулар
duplicate-of = Мына өтінімді қайталауы мүмкін:
merged-into = Мынамен біріктірілді:
timeline-title = Не болды
step-recorded = Қоңырау тіркелді
step-triaged = Сұрыпталды
step-triage-overridden = Сұрыптауды диспетчер өзгертті
step-offered = { $attempt }-ұсыныс:
step-escalated = Диспетчерлерге жіберілді
decisions-title = Топ таңдау шешімдері
decisions-none = Әзірге бірде-бір топ қаралған жоқ.
candidate-group = Топ
candidate-distance = Қашықтық
candidate-verdict = Шешім
candidate-chosen = Таңдалды
candidate-eligible = Ала алатын еді
audit-title = Әрекеттер журналы
audit-none = Бұл өтініммен әлі ешкім ештеңе істеген жоқ.
audit-when = Қашан
audit-who = Кім
audit-what = Не
audit-reason = Себебі
audit-triage = Сұрыптау
audit-action-assignrequest = Қолмен тағайындалды
audit-action-reassignrequest = Басқа топқа берілді
audit-action-withdrawassignment = Топтан қайтарылды
audit-action-createcampaign = Науқанда тағайындалды
actor-komek = Көмек
actions-title = Әрекеттер
action-group = Топ
action-reason = Себебі (журналда сақталады)
action-assign = Топқа тағайындау
action-assign-submit = Тағайындау
action-reassign = Басқа топқа беру
action-reassign-submit = Беру
action-withdraw = Топтан қайтарып алу
action-withdraw-submit = Қайтарып алу
action-override = Сұрыптауды түзету
action-override-submit = Түзетуді сақтау
action-merge = Қайталау ретінде біріктіру
action-merge-hint = Бұл өтінім қайталайтын өтінімнің коды.
action-merge-submit = Біріктіру
action-cancel = Өтінімнің күшін жою
action-cancel-submit = Өтінімнің күшін жою
action-done-assign = Тағайындалды. Топ ұсынысты алды.
action-done-reassign = Басқа топқа берілді.
action-done-withdraw = Қайтарып алынды. Өтінім тағайындалмағандар кезегінде күтіп тұр.
action-done-override = Сұрыптау түзетілді.
action-done-merge = Біріктірілді.
action-done-cancel = Күші жойылды.
action-erase = Қоңырау шалушының жеке деректерін өшіру
action-erase-hint = Қоңырау шалушының аты, телефоны мен мекенжайы, өтініш мәтіні және еріктілердің жазбалары Komek сақтайтын барлық жерден біржола өшіріледі. Санаты, орны, күйі мен уақыты есептер үшін қалады.
action-erase-submit = Біржола өшіру
action-done-erase = Жеке деректер өшірілді.
request-erased = Жеке деректер өшірілді
request-erased-retention = сақтау мерзімі аяқталды
request-erased-note = Өтініш мәтіні қоңырау шалушының жеке деректерімен бірге өшірілді.
find-title = Өтінімді іздеу
find-none = «{ $code }» коды бар өтінім жоқ. Кодты өтініш берушіден нақтылаңыз.

## Карта
map-title = Карта
map-tools = Карта масштабы
map-zoom-in = Жақындату
map-zoom-out = Алыстату
map-zoom-reset = Бүкіл ел
map-request-label = Өтінім және ол үшін қаралған топтар
map-legend-request = Өтінім
map-legend-chosen = Таңдалған топ
map-legend-candidate = Басқа топ
map-legend-position = Жолдағы топ
map-legend-away = Кезекшілікте емес немесе ауысымнан тыс

## Топтар
roster-title = Топтар мен ұйымдар
roster-map-label = Еріктілер топтары және олардың қазір жұмыс ала алатыны
roster-groups = Топтар
roster-group = Топ
roster-organization = Ұйым
roster-organizations = Ұйымдар
roster-state = Қазір
roster-capacity = Орын
roster-no-groups = Мұнда топтар жоқ.
group-off-shift = Ауысымнан тыс
roster-actions = Әрекет
group-deactivated = Белсенді емес
group-deactivate = Белсендіруден шығару…
group-deactivate-reason = Себебі (мысалы, топ тарады)
group-deactivate-confirm = Белсендіруден шығару
group-reactivate = Қайта белсендіру
import-title = Құрамды файлдан жүктеу
import-csv = Немесе кестені осында қойыңыз (тақырып жолымен)
import-hint = CSV (кез келген бөлгіш, UTF-8 немесе Windows-1251), XLSX, XLS немесе ODS; бағандар қазақша, орысша немесе ағылшынша аталуы мүмкін. Қазақ әріптері XLSX пен «CSV UTF-8»-де ғана сақталады: Windows-1251-де олар жоқ. Алдын ала қарауды растамайынша ештеңе өзгермейді.
import-file = Файл: CSV, XLSX, XLS немесе ODS
import-preview = Не өзгеретінін тексеру
import-apply = Осы өзгерістерді қолдану
import-would = { $groups_created } топ құрылады, { $groups_updated } топ жаңартылады; { $volunteers_created } ерікті құрылады, { $volunteers_updated } ерікті жаңартылады.
import-applied = Дайын: { $groups_created } топ құрылды, { $groups_updated } жаңартылды; { $volunteers_created } ерікті құрылды, { $volunteers_updated } жаңартылды.
import-errors = { $count } жолда қате бар. Олар түзетілмейінше ештеңе өзгермейді:
import-line = Жол
import-column = Баған
import-problem-number = Сан емес.
import-problem-whole = Бүтін сан болуы керек.
import-problem-column = Міндетті баған жоқ.
import-problem-empty = Файл бос.
import-problem-too-many = Жол тым көп: бір реттегі шегі 5000.
import-problem-unreadable = Файл оқылмады: CSV, XLSX, XLS немесе ODS болуы керек (құпиясөзсіз).
import-problem-quote = Тырнақша жабылмаған.
import-problem-unknown-column = Белгісіз баған: атын түзетіңіз немесе бағанды алып тастаңыз.
import-problem-skill = Белгісіз дағды.
import-problem-value = Бұл мән жарамайды.
import-problem = Қате
import-read-csv = CSV ретінде оқылды: кодтауы { $encoding }, бөлгіші «{ $delimiter }», тақырыптан кейін { $rows } жол.
import-read-book = { $format } ретінде оқылды: «{ $sheet }» парағы, тақырыптан кейін { $rows } жол.
import-tab = табуляция

## Еріктінің қосымшасы
volunteer-app-title = Ерікті
volunteer-app-short = Көмек
app-sign-in-how = Диспетчерден осы телефонға кіру сілтемесін сұрап, оны осы жерде ашыңыз.
app-link-title = Телефоннан кіру сілтемесі
app-link-explain = Бұл сілтемені еріктінің телефонына жіберіңіз (немесе сонда ашыңыз). Ол сол телефонды бір рет кіргізеді.
app-link-qr = Сілтеменің QR-коды: телефон камерасын соған бағыттаңыз
app-link-valid = Бір рет, { $minutes } минут ішінде жұмыс істейді.
app-link-expired = Бұл сілтеме пайдаланылған немесе мерзімі өткен. Диспетчерден жаңасын сұраңыз.
app-join-explain = Телефон диспетчер таңдаған ерікті ретінде кіреді. Мұны тек өз телефоныңызда жасаңыз.
app-join-submit = Осы телефонда кіру
app-jobs = Менің тапсырмаларым
app-job-open = Тапсырманы ашу
app-offers = Ұсыныстар
app-connecting = Қосылуда…
app-live = Байланыс бар: жаңа ұсыныстар осында шығады.
app-offline = Байланыс жоқ. Қайта қосылуда; соңғы ұсыныстар экранда қалады.
app-no-offers = Қазір ұсыныс жоқ.
app-people = { $count } адам
app-answer-until = Жауап беру уақыты
app-accept = Қабылдау
app-decline = Бас тарту
app-decline-why = Неге
decline-busy = Басқа тапсырмамен бос емеспіз
decline-too-far = Қазір тым алыс
decline-no-vehicle = Бос көлік жоқ
decline-not-our-work = Біз мұндай көмек көрсетпейміз
app-back = Ұсыныстарға оралу
app-job-title = Тапсырма
app-call = Қоңырау шалу
app-open-map = Картадан ашу
app-en-route = Жолға шықтық
app-on-site = Орнына жеттік
app-completed = Орындалды
app-outcome = Қалай аяқталды
app-note = Ескертпе (міндетті емес)
app-abort = Тапсырманы аяқтай алмаймыз
app-abort-why = Неге
roster-sign-in-title = Еріктіні телефоннан кіргізу
roster-volunteer = Ерікті
roster-make-link = Бір реттік сілтеме жасау

## Серіктестер порталы
partner-title = Серіктес порталы
partner-find = Табу
partner-stats = Статистика
partner-requests = Өтінімдер
partner-none = Сіздің аймағыңызда әзірге өтінім жоқ.
partner-outcome = Нәтижесі
partner-updated = Соңғы өзгеріс
partner-status-title = Өтінім күйі
partner-back = Порталға оралу
partner-from = Бастап
partner-to = Дейін
partner-group-by = Бөлу
partner-by-category = Көмек түрі
partner-by-status = Күйі
partner-by-region = Облыс
partner-by-district = Аудан
partner-by-month = Ай
partner-by-organization = Ұйым
partner-by-group = Топ
partner-by-channel = Қалай түсті
partner-no-group = Топ әлі жоқ
partner-requests-count = Өтінімдер
partner-people-helped = Көмек алғандар, адам
partner-assign-median = Тағайындауға дейінгі сағат, медиана
partner-assign-p90 = Тағайындауға дейінгі сағат, 90-процентиль
partner-complete-median = Орындауға дейінгі сағат, медиана
partner-complete-p90 = Орындауға дейінгі сағат, 90-процентиль
partner-total = Барлығы
partner-hours-hint = Уақыт қоңыраудан бастап сағатпен. Біріктірілген қайталаулар бір рет саналады.
partner-no-stats = Бұл кезеңде өтінім жоқ.
partner-chart-label = Кесте жолдары бойынша өтінімдер

## komek командалық жолы
offer-event-kind-pending = Ашық ұсыныс
offer-event-kind-offered = Жаңа ұсыныс
offer-event-kind-withdrawn = Қайтарылды
offer-event-kind-expired = Мерзімі өтті
offer-event-kind-taken = Басқалар алды
cli-error-invalid = Қабылданбады
cli-error-not-found = Табылмады
cli-error-denied = Рұқсат жоқ (кілтті тексеріңіз)
cli-error-unavailable = Қызмет қазір қолжетімсіз; қайталап көріңіз
cli-no-key = Кілт жоқ: --key беріңіз, KOMEK_KEY орнатыңыз немесе ~/.config/komek/cli.toml файлына key = "..." жазыңыз
cli-error-other = Қате
cli-recorded = Қоңырау жазылды. Өтініш берушіге арналған код: { $code }
cli-cancelled = { $code } өтінімі тоқтатылды.
cli-erased = { $code } өтінімінің жеке деректері біржола өшірілді.
cli-withdrawn = { $code } өтінімі: тағайындау енді «{ $status }».
cli-assigned = { $code } өтінімі топқа ұсынылды: { $status }.
cli-assignment-now = { $code } өтінімі: { $status }.
cli-availability-set = { $group }: енді «{ $state }».
cli-place-unknown = «{ $place }» елді мекені табылмады; жазылуын тексеріңіз немесе --lat пен --lon беріңіз.
cli-place-ambiguous = Бірнеше елді мекен сәйкес келеді; --region қосыңыз: { $list }
cli-field-code = Өтінім коды
cli-field-status = Күйі
cli-field-category = Көмек түрі
cli-field-priority = Жеделдігі
cli-field-place = Орны
cli-field-note = Жазба
cli-field-assignment = Топ
cli-field-created = Жазылған уақыты
cli-field-triage = Сұрыптау жазбаны қалай оқыды:
cli-field-decision = Іріктеу, әрекет
cli-decision-escalated = диспетчерлерге берілді
cli-decision-offered = ұсынылды
cli-col-group = Топ
cli-col-distance = Қашықтық
cli-col-reasons = Неге емес
cli-col-why-here = Неге мұнда
cli-col-code = Код
cli-col-priority = Жеделдігі
cli-col-category = Көмек түрі
cli-col-place = Орны
cli-col-since = Күтіп тұр
cli-col-name = Атауы
cli-col-role = Рөлі
cli-col-subject = Кімге
cli-col-created = Жасалды
cli-col-revoked = Қайтарылды
cli-col-requests = Өтінімдер
cli-col-people = Көмек алғандар
cli-col-assign-hours = Тағайындауға дейінгі медиана сағат
cli-col-complete-hours = Орындауға дейінгі медиана сағат
cli-queue-empty = Кезек бос.
cli-every-region = барлық облыс
cli-watching = Бақылау: { $region }; шығу үшін Ctrl-C.
cli-import-checked = Тексерілген жолдар: { $rows }; топтар: { $groups }, еріктілер: { $volunteers }; мәселелер: { $errors }. Ештеңе өзгертілмеді.
cli-import-done = Жүктелген жолдар: { $rows }; топтар: { $groups }, еріктілер: { $volunteers }; мәселелер: { $errors }.
cli-import-checking = Барлық жол тексерілуде…
cli-import-writing = Жазылуда…
cli-key-created = { $name } кілті жасалды. Оның құпиясы тек қазір көрсетіледі:
cli-key-revoked = { $name } кілті қайтарылды.
cli-total = Барлығы
cli-offers-waiting = Ұсыныстар күтілуде; шығу үшін Ctrl-C.

# Requests waiting too long in a state
waiting-state-new = Триаж әлі шешпеді
waiting-state-triaged = Топқа әлі ұсынылмады
waiting-state-escalated = Диспетчерді күтуде
waiting-state-unassigned = Топсыз қалды
queues-late = Тым ұзақ күтуде: { $count }
queues-late-limit = шегі { $minutes } мин
request-dispatch-at = Ұйымның жұмыс уақытын күтуде; топқа жіберілетін уақыт:
request-waiting-too-long = Тым ұзақ күтуде

# Recurring plans
menu-plans = Жоспарлар
plans-title = Тұрақты жоспарлар
plans-intro = Жоспар өз кестесі бойынша өтінімдерді өзі жасайды; алдыңғысы әлі ашық болса, сол адамға жаңасы жасалмайды.
plans-none = Әзірге жоспар жоқ.
plans-next = Келесі жолы:
plans-paused-why = Тоқтатылды
plans-serves = { $count } адамға қызмет етеді
plans-runs = Соңғы жолдары
plans-no-runs = Әлі бірде-бір рет жасалған жоқ.
plans-skipped = Өткізілді
plans-pause = Тоқтата тұру…
plans-pause-reason = Себебі (мысалы, жол қармен жабылды)
plans-pause-confirm = Тоқтата тұру
plans-resume = Жалғастыру
plan-state-active = Жұмыс істеп тұр
plan-state-paused = Тоқтатылған
plan-state-ended = Аяқталды
