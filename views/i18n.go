package views

// Languages the pages are written in; English is the default.
const (
	LangEN = "en"
	LangRU = "ru"
)

// ru holds the Russian for each English phrase the pages use. A phrase
// missing here shows in English, and a test lists the ones missing.
var ru = map[string]string{
	"Orders":        "Заказы",
	"Find an order": "Найти заказ",
	"Find":          "Найти",
	"Uid, track number, transaction, customer or phone": "Uid, трек-номер, транзакция, покупатель или телефон",
	"Recent orders":                           "Последние заказы",
	"New orders appear here as they arrive.":  "Новые заказы появляются здесь по мере поступления.",
	"No orders yet. Try the reference order:": "Заказов пока нет. Попробуйте эталонный заказ:",
	"Created":                             "Создан",
	"Customer":                            "Покупатель",
	"Amount":                              "Сумма",
	"Items":                               "Товары",
	"Track number":                        "Трек-номер",
	"Order":                               "Заказ",
	"Summary":                             "Сводка",
	"Status":                              "Статус",
	"Delivery":                            "Доставка",
	"Payment":                             "Оплата",
	"Name":                                "Имя",
	"Phone":                               "Телефон",
	"Email":                               "Эл. почта",
	"Address":                             "Адрес",
	"City":                                "Город",
	"Region":                              "Регион",
	"Zip":                                 "Индекс",
	"Transaction":                         "Транзакция",
	"Request id":                          "Id запроса",
	"Provider":                            "Провайдер",
	"Bank":                                "Банк",
	"Currency":                            "Валюта",
	"Paid at":                             "Оплачен",
	"Goods total":                         "Товары на сумму",
	"Delivery cost":                       "Доставка",
	"Custom fee":                          "Пошлина",
	"Brand":                               "Бренд",
	"Size":                                "Размер",
	"Price":                               "Цена",
	"Sale":                                "Скидка",
	"Total":                               "Итого",
	"Items total":                         "Итого по товарам",
	"Technical details":                   "Технические поля",
	"Entry":                               "Вход",
	"Locale":                              "Локаль",
	"Delivery service":                    "Служба доставки",
	"Shard key":                           "Ключ шарда",
	"SM id":                               "SM id",
	"OOF shard":                           "OOF шард",
	"Internal signature":                  "Внутренняя подпись",
	"This order as JSON":                  "Этот заказ в JSON",
	"Served from the cache":               "Взят из кэша",
	"Served from the database":            "Взят из базы данных",
	"Your time":                           "Ваше время",
	"Error":                               "Ошибка",
	"Recent orders are on the home page.": "Последние заказы — на главной странице.",
	"Matching orders":                     "Найденные заказы",
	"orders match":                        "заказов найдено",
	"Parked messages":                     "Отложенные сообщения",
	"Messages the service could not store, newest first.": "Сообщения, которые сервис не смог сохранить, сначала новые.",
	"Nothing is parked.": "Отложенных сообщений нет.",
	"Kind":               "Вид",
	"Reason":             "Причина",
	"Source":             "Источник",
	"Time":               "Время",
	"Key":                "Ключ",
	"Body":               "Тело",
	"Older":              "Раньше",
	"More":               "Ещё",
	"Parked listing is not available on this server.": "Список отложенных сообщений на этом сервере недоступен.",
	"Sign in":              "Вход",
	"Page not found":       "Страница не найдена",
	"Order not found":      "Заказ не найден",
	"Something went wrong": "Что-то пошло не так",
	"Skip to content":      "К содержимому",
	"Language":             "Язык",
	"Malformed order uid":  "Неверный uid заказа",
	"Missing order uid":    "Не указан uid заказа",
	"Search text too long": "Слишком длинный запрос",
	"Clipped":              "Обрезано",
}

// T is phrase in lang.
func T(lang, phrase string) string {
	if lang == LangRU {
		if s, ok := ru[phrase]; ok {
			return s
		}
	}
	return phrase
}
