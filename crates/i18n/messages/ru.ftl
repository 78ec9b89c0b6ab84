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
