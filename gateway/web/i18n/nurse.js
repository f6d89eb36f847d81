// The nurse's page (/n/{room}: nurse.html, nurse.js): every text it shows,
// in Bokmål (nb, the default), Nynorsk (nn) and English (en).
// i18n/lang.js picks the language.
//
// Keys are stable: tests and the page's script name them, never the texts.
// {room} in a text is filled in by the script, and every language has the
// same {…} as nb. Every language has every key; gateway/tests/page_strings.rs
// checks that, that every key is used, and that every key the page uses is
// here.
//
// Apart from these // lines, the file is one JSON object (no trailing
// commas, double quotes): the test reads it as JSON.
'use strict';

window.samsynStrings = {
  "nb": {
    "page.title": "samsyn – start kameraet",
    "brand.tagline": "videokonsultasjon om sår",
    "ready.heading": "Start kameraet til konsultasjonen",
    "ready.what": "Denne lenken åpner kameraprogrammet samsyn på den bærbare PC-en og kobler hodekameraet til konsultasjonen med sykehuset.",
    "ready.step1": "Koble hodekameraet til PC-en.",
    "ready.step2": "Trykk på den store knappen «Åpne i samsyn».",
    "ready.step3": "Spør nettleseren om den skal åpne samsyn? Velg «Åpne».",
    "ready.step4": "samsyn viser selv når kameraet er koblet til sykehuset. Denne siden kan du lukke.",
    "ready.open": "Åpne i samsyn",
    "ready.room": "Konsultasjon {room}",
    "help.heading": "Skjer det ingenting når du trykker?",
    "help.noApp": "Har ikke PC-en samsyn? Ring IT-brukerstøtte og be dem installere programmet samsyn-capture på denne PC-en. Knappen virker ikke før det er gjort.",
    "help.otherPc": "Bruk bare den bærbare PC-en som hodekameraet er koblet til.",
    "broken.heading": "Lenken er ufullstendig",
    "broken.what": "En del av lenken mangler – den kan ha blitt kuttet da den ble kopiert eller sendt. Uten den kan kameraet ikke kobles til konsultasjonen.",
    "broken.help": "Be sykehuset sende lenken på nytt, og åpne den slik den kommer, uten å endre den."
  },
  "nn": {
    "page.title": "samsyn – start kameraet",
    "brand.tagline": "videokonsultasjon om sår",
    "ready.heading": "Start kameraet til konsultasjonen",
    "ready.what": "Denne lenkja opnar kameraprogrammet samsyn på den berbare PC-en og koplar hovudkameraet til konsultasjonen med sjukehuset.",
    "ready.step1": "Kople hovudkameraet til PC-en.",
    "ready.step2": "Trykk på den store knappen «Opne i samsyn».",
    "ready.step3": "Spør nettlesaren om han skal opne samsyn? Vel «Opne».",
    "ready.step4": "samsyn viser sjølv når kameraet er kopla til sjukehuset. Denne sida kan du lukke.",
    "ready.open": "Opne i samsyn",
    "ready.room": "Konsultasjon {room}",
    "help.heading": "Skjer det ingenting når du trykkjer?",
    "help.noApp": "Har ikkje PC-en samsyn? Ring IT-brukarstøtta og be dei installere programmet samsyn-capture på denne PC-en. Knappen verkar ikkje før det er gjort.",
    "help.otherPc": "Bruk berre den berbare PC-en som hovudkameraet er kopla til.",
    "broken.heading": "Lenkja er ufullstendig",
    "broken.what": "Ein del av lenkja manglar – ho kan ha vorte kutta då ho vart kopiert eller send. Utan henne kan ikkje kameraet koplast til konsultasjonen.",
    "broken.help": "Be sjukehuset sende lenkja på nytt, og opne henne slik ho kjem, utan å endre henne."
  },
  "en": {
    "page.title": "samsyn – start the camera",
    "brand.tagline": "video consultation for wound care",
    "ready.heading": "Start the camera for the consultation",
    "ready.what": "This link opens the camera program samsyn on the laptop and connects the head camera to the consultation with the hospital.",
    "ready.step1": "Plug the head camera into the laptop.",
    "ready.step2": "Press the big button “Open in samsyn”.",
    "ready.step3": "If the browser asks whether to open samsyn, choose “Open”.",
    "ready.step4": "samsyn shows by itself when the camera is connected to the hospital. You can close this page.",
    "ready.open": "Open in samsyn",
    "ready.room": "Consultation {room}",
    "help.heading": "Nothing happens when you press it?",
    "help.noApp": "Does this laptop not have samsyn? Call IT support and ask them to install the program samsyn-capture on it. The button does not work until then.",
    "help.otherPc": "Use only the laptop the head camera is plugged into.",
    "broken.heading": "The link is incomplete",
    "broken.what": "Part of the link is missing — it may have been cut off when it was copied or sent. Without it the camera cannot join the consultation.",
    "broken.help": "Ask the hospital to send the link again, and open it as it comes, without changing it."
  }
};
