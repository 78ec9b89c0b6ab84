# Сообщения Komek на русском. Ключи — как в en.ftl.

## Categories of need
category-veteran-aid = Помощь ветеранам и одиноким пожилым
category-fuel-delivery = Доставка угля и дров
category-search-operation = Поиск пропавшего человека
category-psychological-support = Психологическая поддержка
category-material-aid = Материальная помощь
category-emergency-hq = Чрезвычайный штаб
category-consultation = Консультация
category-other = Другое

## Priorities
priority-low = Низкий
priority-normal = Обычный
priority-high = Высокий
priority-critical = Критический

## Skills of volunteer groups
skill-search-rescue = Поисково-спасательные работы
skill-first-aid = Первая помощь
skill-vehicle-cargo = Грузовой транспорт
skill-psychologist = Психолог
skill-social-care = Социальный уход
skill-medical = Медицинская помощь
skill-legal-advice = Юридическая консультация
skill-general-labour = Разнорабочие
skill-drone-operator = Оператор дрона
skill-dog-handler = Кинолог

## Roles
role-admin = Администратор
role-dispatcher = Диспетчер
role-volunteer = Волонтёр
role-partner = Организация-партнёр
role-service = Служба

## Languages
language-kazakh = Казахский
language-russian = Русский
language-english = Английский

## How a request came in
channel-hotline = Горячая линия
channel-partner = Организация-партнёр
channel-app = Приложение
channel-plan = По плану

## Request statuses
request-status-new = Новая
request-status-triaged = Классифицирована
request-status-dispatching = Предложена группе
request-status-assigned = Назначена
request-status-in-progress = Выполняется
request-status-resolved = Выполнена
request-status-closed = Закрыта
request-status-merged = Объединена с другой
request-status-escalated = Передана диспетчеру
request-status-cancelled = Отменена

## Assignment statuses
assignment-status-offered = Предложено
search-role-lead = ведёт поиск
search-role-support = помогает в поиске
app-wide-search = Поиск несколькими группами сразу: первая принявшая группа ведёт его, остальные помогают.
assignment-status-accepted = Принято
assignment-status-declined = Отклонено
assignment-status-expired = Истекло
assignment-status-withdrawn = Отозвано
assignment-status-en-route = В пути
assignment-status-on-site = На месте
assignment-status-completed = Выполнено
assignment-status-aborted = Прервано

## How a request ended
outcome-helped = Помощь оказана
outcome-partially-helped = Помощь оказана частично
outcome-no-longer-needed = Больше не нужно
outcome-person-found = Человек найден
outcome-person-not-found = Человек не найден
outcome-referred = Перенаправлено
outcome-caller-unreachable = Заявитель недоступен

## Group availability
availability-available = Свободна
availability-busy = Занята
availability-off-duty = Не на дежурстве

## Why a group was not chosen
ineligible-reason-outside-service-area = Вне зоны работы
ineligible-reason-not-available = Недоступна
ineligible-reason-no-capacity = Нет свободных мест
ineligible-reason-missing-skill = Нет нужного навыка
ineligible-reason-certification-expired = Истёк срок допуска
ineligible-reason-off-shift = Не на смене
ineligible-reason-stale-location = Местоположение устарело
ineligible-reason-already-declined = Уже отказалась или пропустила предложение
ineligible-reason-resting = Отдыхает после выезда
ineligible-reason-not-nearest = Выбрана более близкая группа
ineligible-reason-no-location = У заявки нет координат
ineligible-reason-no-groups = Нет зарегистрированных групп
ineligible-reason-insufficient-payload = Недостаточная грузоподъёмность
ineligible-reason-unclassified = Классификация не уверена, что нужно: подтвердите категорию
ineligible-reason-nothing-to-send = Звонок не требует выезда группы: прочитайте и закройте или измените категорию
ineligible-reason-office-closed = Организация сейчас не работает

## Days of the week
day-of-week-monday = Понедельник
day-of-week-tuesday = Вторник
day-of-week-wednesday = Среда
day-of-week-thursday = Четверг
day-of-week-friday = Пятница
day-of-week-saturday = Суббота
day-of-week-sunday = Воскресенье

## Kinds of organisation
organization-kind-ngo = НКО
organization-kind-red-crescent = Красный Полумесяц
organization-kind-youth-wing = Молодёжное крыло
organization-kind-akimat-service = Служба акимата
organization-kind-informal = Неформальная группа

## Dispatchers' queues
queue-escalated = Эскалированные
queue-unassigned = Не назначенные
queue-overdue = Просроченные

## Volunteers' progress
progress-step-en-route = В пути
progress-step-on-site = На месте
progress-step-completed = Выполнено
progress-step-aborted = Прервано

## Settlement kinds
settlement-kind-city = город
settlement-kind-town = посёлок
settlement-kind-village = село

## Counts
requests-count =
    { $count ->
        [one] { $count } заявка
        [few] { $count } заявки
       *[many] { $count } заявок
    }

## The console
app-title = Көмек
nav-label = Учётная запись и язык
sign-in-title = Вход
sign-in-key-label = Ваш ключ доступа
sign-in-key-hint = Ключ, который выдал администратор. Он не показывается и не сохраняется в браузере.
sign-in-submit = Войти
sign-in-bad-key = Ключ недействителен, отозван или истёк.
sign-in-too-many = Слишком много попыток. Подождите минуту и попробуйте снова.
sign-in-unavailable = Komek сейчас недоступен. Попробуйте через минуту.
sign-out = Выйти
signed-in-as = Вы вошли как
home-title = Рабочее место диспетчера
home-queues = Ждут диспетчера
count-more-than = больше { $count }
count-unavailable = сейчас недоступно
form-refused-title = Не отправлено
form-refused = Форма пришла не со страницы этой консоли, поэтому ничего не сделано. Откройте страницу заново и повторите.
not-found-title = Страница не найдена
back-home = На главную
places-label = Населённые пункты
places-none = Нет населённого пункта с таким названием. Проверьте написание или введите район.
menu-label = Разделы
menu-new-call = Новый звонок
menu-queues = Очереди
menu-roster = Группы
menu-find = Код заявки…
reference-code = Код заявки

## Время
ago-minutes =
    { $count ->
        [one] { $count } минута
        [few] { $count } минуты
       *[many] { $count } минут
    }
ago-hours =
    { $count ->
        [one] { $count } час
        [few] { $count } часа
       *[many] { $count } часов
    }
ago-days =
    { $count ->
        [one] { $count } день
        [few] { $count } дня
       *[many] { $count } дней
    }

## Единицы
unit-t = т
unit-m3 = м³
unit-kg = кг
unit-pcs = шт.

## Поля заявки, как их называют отказы
field-caller = Заявитель
field-caller-display-name = Имя заявителя
field-caller-phone = Телефон
field-caller-preferred-language = Язык заявителя
field-channel = Откуда поступила заявка
field-location = Место
field-location-address = Адрес или ориентир
field-description = Что нужно заявителю
field-operator-category = Вид помощи
field-operator-priority = Срочность
field-category = Вид помощи
field-priority = Срочность
field-volunteer-note = Что увидят волонтёры
field-people-count = Сколько людей нуждается в помощи
field-quantity = Количество
field-wanted-window = Когда нужна помощь
field-status = Состояние
field-region = Область
field-district = Район
field-reason = Причина
field-group = Группа
field-merge-into = Заявка, которую она повторяет
field-name = Заявка
field-request-id = Форма
field-etag = Версия заявки
field-organization = Организация
field-csv = CSV
field-required-skills = Навыки
field-other = поле формы

## Отказы Komek, словами
refusal-fields = Проверьте: { $fields }.
refusal-invalid = Часть введённого неверна. Проверьте форму.
refusal-permission = Ваш ключ не даёт права на это. Если нужно, обратитесь к администратору.
refusal-unauthenticated = Сеанс больше не действует. Войдите снова.
refusal-not-found = Этого больше нет или это не в ваших областях.
refusal-already-exists = Эта форма уже была отправлена с другими данными. Откройте её заново и повторите.
refusal-precondition = Заявка изменилась, и сейчас это сделать нельзя (например, она уже назначена, закрыта или у группы нет свободного места). Посмотрите его состояние и повторите.
refusal-aborted = Кто-то изменил это в ту же секунду. Посмотрите ещё раз и повторите.
refusal-exhausted = Сейчас слишком много запросов. Подождите немного и повторите.
refusal-unavailable = Komek сейчас недоступен. Ничего не потеряно: отправьте ещё раз через минуту.
refusal-internal = Ошибка на стороне Komek. Отправьте ещё раз; если повторится, сообщите администратору.

## Новый звонок
call-title = Новый звонок
call-channel = Откуда поступила заявка
call-anonymous = Заявитель хочет остаться анонимным
call-caller = Заявитель
call-caller-language = На каком языке говорит заявитель
call-not-said = Не указан
call-phone-hint = Казахстан 8 7xx… или +7…, Беларусь +375… или 80…
call-phone-error = Такой номер Komek не принимает: казахстанский номер наберите как 8 701 555 44 21 или +7 701 555 44 21, белорусский как +375 29 123 45 67.
call-name-error = Имя слишком длинное или содержит недопустимые символы.
call-place = Населённый пункт
call-place-error = Выберите населённый пункт из подсказок (начните вводить название, затем выберите стрелками и Enter).
call-text-error = Слишком длинно или есть недопустимые символы.
call-note-error = Напишите, что нужно заявителю (поле не может быть пустым).
call-number-error = Введите число, например 2 или 2,5.
call-pick-one = Населённых пунктов с таким названием несколько: выберите один.
call-volunteer-note-hint = Необязательно, без личных данных. Если пусто, это текст выше без телефонов, e-mail, номеров документов и имени заявителя.
call-unit = Единица
call-triage-decides = Определится автоматически
call-save = Сохранить звонок
call-save-hint = Ctrl+Enter тоже сохраняет.
saved-title = Звонок сохранён
saved-read-back = Продиктуйте заявителю код заявки:
saved-next-call = Следующий звонок
saved-open-request = Открыть заявку

## Очереди
queues-title = Очереди
queues-filters = Фильтры
queues-all-regions = Все области
queues-any = Любая
queues-min-priority = Срочность не ниже
queues-apply = Показать
queues-empty = Здесь ничего не ждёт.
queues-waiting = Ждёт
queues-why = Почему
queues-map-label = Заявки этой страницы
queues-next-page = Следующие 100

## Страница заявки
request-title = Заявка
request-title-code = Заявка { $code }
request-summary = Кратко
request-group-position = Группа в пути, последнее место
request-created = Записано
caller-anonymous = Анонимно
caller-unknown = Не указан
caller-hidden = Скрыт
triage-title = Классификация
triage-overridden = задано диспетчером
triage-unclassified = Не классифицирована: система не уверена, что нужно, и никого не отправила. Прочитайте запись и укажите категорию ниже.
triage-skills = Навыки
triage-confidence = Уверенность { $percent }%.
triage-part-model-category = Модель, вид помощи
triage-part-model-priority = Модель, срочность
triage-part-model-critical-risk = Модель: возможна угроза жизни
triage-part-rule-category = Правило, вид помощи
triage-part-rule-priority = Правило, срочность
triage-part-closure = Правило: новая помощь не нужна
triage-part-numbers = Числа в записи
triage-part-unclassified = Не уверена
triage-part-duplicate = Возможный повтор
triage-part-operator = Задано оператором
triage-pending = Классификация ещё не готова.
duplicates-title = Повторы
duplicate-of = Вероятно, повторяет
merged-into = Объединено с
timeline-title = Что происходило
step-recorded = Звонок записан
step-triaged = Классифицирована
step-triage-overridden = Классификацию изменил диспетчер
step-offered = Предложение { $attempt }:
step-escalated = Передано диспетчерам
decisions-title = Решения подбора
decisions-none = Ни одна группа ещё не рассматривалась.
candidate-group = Группа
candidate-distance = Расстояние
candidate-verdict = Решение
candidate-chosen = Выбрана
candidate-eligible = Могла бы взять
audit-title = Журнал действий
audit-none = С этой заявкой ещё никто ничего не делал.
audit-when = Когда
audit-who = Кто
audit-what = Что
audit-reason = Причина
audit-triage = Классификация
audit-action-assignrequest = Назначено вручную
audit-action-reassignrequest = Передано другой группе
audit-action-withdrawassignment = Отозвано у группы
audit-action-createcampaign = Назначено в кампании
actor-komek = Komek
actions-title = Действия
action-group = Группа
action-reason = Причина (сохраняется в журнале)
action-assign = Назначить группе
action-assign-submit = Назначить
action-reassign = Передать другой группе
action-reassign-submit = Передать
action-withdraw = Отозвать у группы
action-withdraw-submit = Отозвать
action-override = Исправить классификацию
action-override-submit = Сохранить исправление
action-merge = Объединить как повтор
action-merge-hint = Код заявки, которую повторяет эта.
action-merge-submit = Объединить
action-cancel = Отменить заявку
action-cancel-submit = Отменить заявку
action-done-assign = Назначено. Группа получила предложение.
action-done-reassign = Передано другой группе.
action-done-withdraw = Отозвано. Заявка ждёт в очереди неназначенных.
action-done-override = Классификация исправлена.
action-done-merge = Объединено.
action-done-cancel = Отменено.
action-erase = Стереть личные данные звонившего
action-erase-hint = Имя, телефон и адрес звонившего, текст обращения и заметки волонтёров будут стёрты навсегда — везде, где их хранит Komek. Категория, место, статус и время останутся для отчётов.
action-erase-submit = Стереть навсегда
action-done-erase = Личные данные стёрты.
request-erased = Личные данные стёрты
request-erased-retention = истёк срок хранения
request-erased-note = Текст обращения стёрт вместе с личными данными звонившего.
find-title = Поиск заявки
find-none = Нет заявки с кодом «{ $code }». Уточните код у заявителя.

## Карта
map-title = Карта
map-tools = Масштаб карты
map-zoom-in = Приблизить
map-zoom-out = Отдалить
map-zoom-reset = Вся страна
map-request-label = Заявка и группы, которые для неё рассматривались
map-legend-request = Заявка
map-legend-chosen = Выбранная группа
map-legend-candidate = Другая группа
map-legend-position = Группа в пути
map-legend-away = Не на дежурстве или вне смены

## Группы
roster-title = Группы и организации
roster-map-label = Группы волонтёров и могут ли они сейчас взять работу
roster-groups = Группы
roster-group = Группа
roster-organization = Организация
roster-organizations = Организации
roster-state = Сейчас
roster-capacity = Мест
roster-no-groups = Здесь нет групп.
group-off-shift = Вне смены
roster-actions = Действие
group-deactivated = Деактивирована
group-deactivate = Деактивировать…
group-deactivate-reason = Причина (например, группа распалась)
group-deactivate-confirm = Деактивировать
group-reactivate = Вернуть в работу
import-title = Загрузить состав из файла
import-csv = Или вставьте таблицу сюда (со строкой заголовков)
import-hint = CSV (любой разделитель, UTF-8 или Windows-1251), XLSX, XLS или ODS; столбцы можно назвать по-казахски, по-русски или по-английски. Казахские буквы сохраняются только в XLSX и «CSV UTF-8»: в Windows-1251 их нет. Ничего не изменится, пока вы не подтвердите предпросмотр.
import-file = Файл: CSV, XLSX, XLS или ODS
import-preview = Проверить, что изменится
import-apply = Применить эти изменения
import-would = Будет создано групп: { $groups_created }, обновлено: { $groups_updated }; волонтёров создано: { $volunteers_created }, обновлено: { $volunteers_updated }.
import-applied = Готово: групп создано { $groups_created }, обновлено { $groups_updated }; волонтёров создано { $volunteers_created }, обновлено { $volunteers_updated }.
import-errors =
    { $count ->
        [one] В { $count } строке ошибка. Ничего не изменится, пока её не исправят:
        [few] В { $count } строках ошибки. Ничего не изменится, пока их не исправят:
       *[many] В { $count } строках ошибки. Ничего не изменится, пока их не исправят:
    }
import-line = Строка
import-column = Столбец
import-problem-number = Не число.
import-problem-whole = Нужно целое число.
import-problem-column = Нет обязательного столбца.
import-problem-empty = Файл пуст.
import-problem-too-many = Слишком много строк: не больше 5000 за раз.
import-problem-unreadable = Файл не читается: нужен CSV, XLSX, XLS или ODS (без пароля).
import-problem-quote = Не закрыта кавычка.
import-problem-unknown-column = Неизвестный столбец: исправьте название или удалите столбец.
import-problem-skill = Неизвестный навык.
import-problem-value = Это значение не подходит.
import-problem = Ошибка
import-read-csv = Прочитано как CSV: кодировка { $encoding }, разделитель «{ $delimiter }», строк под заголовком: { $rows }.
import-read-book = Прочитано как { $format }: лист «{ $sheet }», строк под заголовком: { $rows }.
import-tab = табуляция

## Приложение волонтёра
volunteer-app-title = Волонтёр
volunteer-app-short = Komek
app-sign-in-how = Попросите диспетчера прислать ссылку для входа на этом телефоне и откройте её здесь.
app-link-title = Ссылка для входа с телефона
app-link-explain = Отправьте эту ссылку на телефон волонтёра (или откройте её там). Она один раз выполнит вход на этом телефоне.
app-link-qr = QR-код ссылки: наведите на него камеру телефона
app-link-valid = Действует один раз, { $minutes } минут.
app-link-expired = Эта ссылка уже использована или истекла. Попросите у диспетчера новую.
app-join-explain = Телефон войдёт как волонтёр, которого выбрал диспетчер. Делайте это только на своём телефоне.
app-join-submit = Войти на этом телефоне
app-jobs = Мои задания
app-job-open = Открыть задание
app-offers = Предложения
app-connecting = Подключение…
app-live = На связи: новые предложения появятся здесь.
app-offline = Нет связи. Пробуем снова; последние предложения остаются на экране.
app-no-offers = Сейчас предложений нет.
app-people = { $count ->
        [one] { $count } человек
        [few] { $count } человека
       *[many] { $count } человек
    }
app-answer-until = Ответить в течение
app-accept = Принять
app-decline = Отказаться
app-decline-why = Почему нет
decline-busy = Заняты другим заданием
decline-too-far = Сейчас слишком далеко
decline-no-vehicle = Нет свободной машины
decline-not-our-work = Мы не оказываем такую помощь
app-back = К предложениям
app-job-title = Задание
app-call = Позвонить
app-open-map = Открыть в картах
app-en-route = Выехали
app-on-site = На месте
app-completed = Готово
app-outcome = Чем закончилось
app-note = Заметка (необязательно)
app-abort = Не можем завершить задание
app-abort-why = Почему
roster-sign-in-title = Вход волонтёра с телефона
roster-volunteer = Волонтёр
roster-make-link = Создать одноразовую ссылку

## Портал партнёров
partner-title = Портал партнёра
partner-find = Найти
partner-stats = Статистика
partner-requests = Заявки
partner-none = В вашей зоне пока нет заявок.
partner-outcome = Итог
partner-updated = Последнее изменение
partner-status-title = Состояние заявки
partner-back = На портал
partner-from = С
partner-to = По
partner-group-by = Разбивка
partner-by-category = Вид помощи
partner-by-status = Состояние
partner-by-region = Область
partner-by-district = Район
partner-by-month = Месяц
partner-by-organization = Организация
partner-by-group = Группа
partner-by-channel = Как поступила
partner-no-group = Группы ещё нет
partner-requests-count = Заявки
partner-people-helped = Получили помощь, человек
partner-assign-median = Часов до назначения, медиана
partner-assign-p90 = Часов до назначения, 90-й процентиль
partner-complete-median = Часов до выполнения, медиана
partner-complete-p90 = Часов до выполнения, 90-й процентиль
partner-total = Итого
partner-hours-hint = Время в часах от звонка. Объединённые повторы считаются один раз.
partner-no-stats = За этот период заявок нет.
partner-chart-label = Заявки по строкам таблицы

## Командная строка komek
offer-event-kind-pending = Открытое предложение
offer-event-kind-offered = Новое предложение
offer-event-kind-withdrawn = Отозвано
offer-event-kind-expired = Истекло
offer-event-kind-taken = Взяли другие
cli-error-invalid = Отказано
cli-error-not-found = Не найдено
cli-error-denied = Нет доступа (проверьте ключ)
cli-error-unavailable = Сервис сейчас недоступен; повторите попытку
cli-no-key = Нет ключа: укажите --key, задайте KOMEK_KEY или впишите key = "..." в ~/.config/komek/cli.toml
cli-error-other = Ошибка
cli-recorded = Обращение записано. Код для заявителя: { $code }
cli-cancelled = Заявка { $code } отменена.
cli-erased = Личные данные заявки { $code } стёрты навсегда.
cli-withdrawn = Заявка { $code }: назначение теперь «{ $status }».
cli-assigned = Заявка { $code } предложена группе: { $status }.
cli-assignment-now = Заявка { $code }: { $status }.
cli-availability-set = { $group }: теперь «{ $state }».
cli-place-unknown = Населённый пункт «{ $place }» не найден; проверьте написание или укажите --lat и --lon.
cli-place-ambiguous = Подходит несколько населённых пунктов; укажите --region: { $list }
cli-field-code = Код заявки
cli-field-status = Статус
cli-field-category = Вид помощи
cli-field-priority = Срочность
cli-field-place = Место
cli-field-note = Запись
cli-field-assignment = Группа
cli-field-created = Записано
cli-field-triage = Как сортировка прочла запись:
cli-field-decision = Подбор, попытка
cli-decision-escalated = передано диспетчерам
cli-decision-offered = предложено
cli-col-group = Группа
cli-col-distance = Расстояние
cli-col-reasons = Почему нет
cli-col-why-here = Почему здесь
cli-col-code = Код
cli-col-priority = Срочность
cli-col-category = Вид помощи
cli-col-place = Место
cli-col-since = Ждёт с
cli-col-name = Название
cli-col-role = Роль
cli-col-subject = Для кого
cli-col-created = Создан
cli-col-revoked = Отозван
cli-col-requests = Заявок
cli-col-people = Получили помощь
cli-col-assign-hours = Медиана часов до назначения
cli-col-complete-hours = Медиана часов до выполнения
cli-queue-empty = Очередь пуста.
cli-every-region = все области
cli-watching = Наблюдение: { $region }; Ctrl-C — выход.
cli-import-checked = Проверено строк: { $rows }; групп: { $groups }, волонтёров: { $volunteers }; проблем: { $errors }. Ничего не изменено.
cli-import-done = Загружено строк: { $rows }; групп: { $groups }, волонтёров: { $volunteers }; проблем: { $errors }.
cli-import-checking = Проверка всех строк…
cli-import-writing = Запись…
cli-key-created = Ключ { $name } создан. Его секрет показывается только сейчас:
cli-key-revoked = Ключ { $name } отозван.
cli-total = Всего
cli-offers-waiting = Ожидание предложений; Ctrl-C — выход.

# Requests waiting too long in a state
waiting-state-new = Ещё не разобрана триажем
waiting-state-triaged = Ещё не предложена группе
waiting-state-escalated = Ждёт диспетчера
waiting-state-unassigned = Осталась без группы
queues-late = Ждут слишком долго: { $count }
queues-late-limit = лимит { $minutes } мин
request-dispatch-at = Ждёт часов работы организации; будет передана группе:
request-waiting-too-long = Ждёт слишком долго

# Recurring plans
menu-plans = Планы
plans-title = Регулярные планы
plans-intro = План сам создаёт заявки по своему расписанию; пока предыдущая заявка человека открыта, новая для него не создаётся.
plans-none = Планов пока нет.
plans-next = Следующий раз:
plans-paused-why = Приостановлен
plans-serves = Обслуживает людей: { $count }
plans-runs = Последние запуски
plans-no-runs = Ещё ни разу не запускался.
plans-skipped = Пропущено
plans-pause = Приостановить…
plans-pause-reason = Причина (например, дорогу замело)
plans-pause-confirm = Приостановить
plans-resume = Возобновить
plan-state-active = Действует
plan-state-paused = Приостановлен
plan-state-ended = Завершён
