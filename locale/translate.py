# ruff: noqa: E501 - msgids are the English sentences, kept whole so they can be searched for
"""Fill locale/{de,fr}/LC_MESSAGES/django.po from the table below, after `makemessages`.

    .venv/bin/python manage.py makemessages -l de -l fr --no-obsolete \\
        --ignore=.venv --ignore=.tools --ignore=var --ignore=bench --ignore=tests
    .venv/bin/python locale/translate.py          # fills every msgstr it knows, lists the rest
    .venv/bin/python manage.py compilemessages    # the .mo files are committed

makemessages is the project's own (preferences/management/commands/makemessages.py): it also
reads the hosted pages' Jinja2 templates (templates/jinja2/), whose `_()` and `{% trans %}`
give the same msgids Django's `{% translate %}` and `{% blocktranslate %}` did.
tests/preferences/test_templates.py fails when a template's message has no translation here.

German uses the formal "Sie", French "vous". A msgid missing from the table is reported and
left empty (Django then shows the English text).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# msgid -> (German, French). Plurals: msgid -> ((de singular, de plural), (fr singular, fr plural)).
T: dict[str, tuple[object, object]] = {
    # --- forms --------------------------------------------------------------------------------
    "Your email address": ("Ihre E-Mail-Adresse", "Votre adresse e-mail"),
    "We'll send a new link to this address if it is one we know.": (
        "Wir senden einen neuen Link an diese Adresse, wenn wir sie kennen.",
        "Nous enverrons un nouveau lien à cette adresse si nous la connaissons.",
    ),
    "Enter your email address.": ("Geben Sie Ihre E-Mail-Adresse ein.", "Saisissez votre adresse e-mail."),
    "Enter an email address in the form name@example.com.": (
        "Geben Sie eine E-Mail-Adresse in der Form name@example.com ein.",
        "Saisissez une adresse e-mail de la forme nom@example.com.",
    ),
    "1 week": ("1 Woche", "1 semaine"),
    "2 weeks": ("2 Wochen", "2 semaines"),
    "4 weeks": ("4 Wochen", "4 semaines"),
    "8 weeks": ("8 Wochen", "8 semaines"),
    "Pause for": ("Pausieren für", "Mettre en pause pendant"),
    "Choose how long to pause for.": (
        "Wählen Sie, wie lange pausiert werden soll.",
        "Choisissez la durée de la pause.",
    ),
    "Choose 1, 2, 4 or 8 weeks.": ("Wählen Sie 1, 2, 4 oder 8 Wochen.", "Choisissez 1, 2, 4 ou 8 semaines."),
    "With the country code, e.g. +49 151 23456789.": (
        "Mit Ländervorwahl, z. B. +49 151 23456789.",
        "Avec l’indicatif du pays, par exemple +33 6 12 34 56 78.",
    ),
    "Enter your phone number.": ("Geben Sie Ihre Telefonnummer ein.", "Saisissez votre numéro de téléphone."),
    "Enter a phone number with its country code, e.g. +49 151 23456789.": (
        "Geben Sie eine Telefonnummer mit Ländervorwahl ein, z. B. +49 151 23456789.",
        "Saisissez un numéro de téléphone avec l’indicatif du pays, par exemple +33 6 12 34 56 78.",
    ),
    "Choose a language.": ("Wählen Sie eine Sprache.", "Choisissez une langue."),
    "A time zone such as Europe/Berlin or America/Toronto.": (
        "Eine Zeitzone wie Europe/Berlin oder America/Toronto.",
        "Un fuseau horaire comme Europe/Paris ou America/Toronto.",
    ),
    "Enter your time zone.": ("Geben Sie Ihre Zeitzone ein.", "Saisissez votre fuseau horaire."),
    "Enter a time zone such as Europe/Berlin.": (
        "Geben Sie eine Zeitzone wie Europe/Berlin ein.",
        "Saisissez un fuseau horaire comme Europe/Paris.",
    ),
    "A two-letter country code such as DE or FR, or a region such as US-CA.": (
        "Ein zweistelliger Ländercode wie DE oder AT, oder eine Region wie US-CA.",
        "Un code pays à deux lettres comme FR ou BE, ou une région comme CA-QC.",
    ),
    "Enter a country or region code.": (
        "Geben Sie einen Länder- oder Regionscode ein.",
        "Saisissez un code de pays ou de région.",
    ),
    "Enter a code such as DE, FR or US-CA.": (
        "Geben Sie einen Code wie DE, FR oder US-CA ein.",
        "Saisissez un code comme FR, DE ou CA-QC.",
    ),
    "Choose one of the offered frequencies.": (
        "Wählen Sie eine der angebotenen Häufigkeiten.",
        "Choisissez l’une des fréquences proposées.",
    ),
    "The text about “%(purpose)s” changed while you had this page open. Please read it again, then save.": (
        "Der Text zu „%(purpose)s“ hat sich geändert, während diese Seite geöffnet war. "
        "Bitte lesen Sie ihn erneut und speichern Sie dann.",
        "Le texte concernant « %(purpose)s » a changé pendant que cette page était ouverte. "
        "Veuillez le relire, puis enregistrer.",
    ),
    # --- labels ------------------------------------------------------------------------------
    "Email": ("E-Mail", "E-mail"),
    "Text message (SMS)": ("SMS", "SMS"),
    "Push notification": ("Push-Benachrichtigung", "Notification push"),
    "Post": ("Post", "Courrier"),
    "Phone call": ("Anruf", "Appel téléphonique"),
    "all emails": ("alle E-Mails", "tous les e-mails"),
    "all text messages": ("alle SMS", "tous les SMS"),
    "all push notifications": ("alle Push-Benachrichtigungen", "toutes les notifications push"),
    "all post": ("alle Briefpost", "tout le courrier"),
    "all phone calls": ("alle Anrufe", "tous les appels"),
    "As it happens": ("Sofort", "Au fil de l’eau"),
    "Daily digest": ("Tägliche Zusammenfassung", "Résumé quotidien"),
    "Weekly digest": ("Wöchentliche Zusammenfassung", "Résumé hebdomadaire"),
    "Monthly digest": ("Monatliche Zusammenfassung", "Résumé mensuel"),
    "Get a monthly digest instead": (
        "Stattdessen monatlich zusammengefasst",
        "Recevoir plutôt un résumé mensuel",
    ),
    "Get a weekly digest instead": (
        "Stattdessen wöchentlich zusammengefasst",
        "Recevoir plutôt un résumé hebdomadaire",
    ),
    "Get a daily digest instead": (
        "Stattdessen täglich zusammengefasst",
        "Recevoir plutôt un résumé quotidien",
    ),
    "You'll get “%(topic)s” as a monthly digest instead.": (
        "Sie erhalten „%(topic)s“ jetzt als monatliche Zusammenfassung.",
        "Vous recevrez désormais « %(topic)s » sous forme de résumé mensuel.",
    ),
    "You'll get “%(topic)s” as a weekly digest instead.": (
        "Sie erhalten „%(topic)s“ jetzt als wöchentliche Zusammenfassung.",
        "Vous recevrez désormais « %(topic)s » sous forme de résumé hebdomadaire.",
    ),
    "You'll get “%(topic)s” as a daily digest instead.": (
        "Sie erhalten „%(topic)s“ jetzt als tägliche Zusammenfassung.",
        "Vous recevrez désormais « %(topic)s » sous forme de résumé quotidien.",
    ),
    "Email address": ("E-Mail-Adresse", "Adresse e-mail"),
    "Phone number": ("Telefonnummer", "Numéro de téléphone"),
    "Language": ("Sprache", "Langue"),
    "Time zone": ("Zeitzone", "Fuseau horaire"),
    "Country or region": ("Land oder Region", "Pays ou région"),
    "To send you the emails you chose, and links to this page.": (
        "Um Ihnen die gewählten E-Mails und Links zu dieser Seite zu senden.",
        "Pour vous envoyer les e-mails que vous avez choisis et des liens vers cette page.",
    ),
    "To send you the text messages or calls you chose.": (
        "Um Ihnen die gewählten SMS oder Anrufe zukommen zu lassen.",
        "Pour vous envoyer les SMS ou vous passer les appels que vous avez choisis.",
    ),
    "To write to you, and show this page, in your language.": (
        "Um Ihnen in Ihrer Sprache zu schreiben und diese Seite darin anzuzeigen.",
        "Pour vous écrire et afficher cette page dans votre langue.",
    ),
    "To send messages at a sensible time of day where you are.": (
        "Um Nachrichten zu einer vernünftigen Tageszeit bei Ihnen zu senden.",
        "Pour envoyer les messages à une heure raisonnable là où vous êtes.",
    ),
    "To apply the privacy and marketing rules of where you live.": (
        "Um die Datenschutz- und Werberegeln Ihres Wohnorts anzuwenden.",
        "Pour appliquer les règles de protection des données et de prospection de votre lieu de résidence.",
    ),
    # --- views -------------------------------------------------------------------------------
    "Too many requests. Please try again later.": (
        "Zu viele Anfragen. Bitte versuchen Sie es später erneut.",
        "Trop de demandes. Veuillez réessayer plus tard.",
    ),
    "Saved. Your choices are up to date.": (
        "Gespeichert. Ihre Auswahl ist aktuell.",
        "Enregistré. Vos choix sont à jour.",
    ),
    "We couldn't save that change. Please check your choices and try again.": (
        "Diese Änderung konnte nicht gespeichert werden. Bitte prüfen Sie Ihre Auswahl und versuchen Sie es erneut.",
        "Cette modification n’a pas pu être enregistrée. Vérifiez vos choix et réessayez.",
    ),
    "Saved. Please confirm by the link we're emailing you before anything new is sent.": (
        "Gespeichert. Bitte bestätigen Sie über den Link, den wir Ihnen gerade mailen, bevor wir Neues senden.",
        "Enregistré. Confirmez avec le lien que nous vous envoyons par e-mail avant tout nouvel envoi.",
    ),
    "This can't be allowed here.": (
        "Das kann hier nicht erlaubt werden.",
        "Cela ne peut pas être autorisé ici.",
    ),
    "Choose whether to allow this or not.": (
        "Wählen Sie, ob Sie dies erlauben oder nicht.",
        "Choisissez d’autoriser ou non.",
    ),
    "Paused until %(date)s. Messages you need, like order updates, still arrive.": (
        "Pausiert bis %(date)s. Nachrichten, die Sie brauchen, etwa zu Bestellungen, kommen weiterhin.",
        "En pause jusqu’au %(date)s. Les messages nécessaires, comme le suivi de commande, arrivent toujours.",
    ),
    "Resumed. You'll get messages again as you chose.": (
        "Fortgesetzt. Sie erhalten wieder Nachrichten wie gewählt.",
        "Reprise. Vous recevrez à nouveau les messages choisis.",
    ),
    "You're unsubscribed from %(what)s. Changed your mind? Use “Undo” below.": (
        "Sie haben %(what)s abbestellt. Anders überlegt? Nutzen Sie unten „Rückgängig“.",
        "Vous êtes désabonné·e de %(what)s. Vous avez changé d’avis ? Utilisez « Annuler » ci-dessous.",
    ),
    "Undone. You're subscribed again as before.": (
        "Rückgängig gemacht. Sie sind wieder angemeldet wie zuvor.",
        "Annulé. Vous êtes de nouveau abonné·e comme avant.",
    ),
    "Deleted: %(what)s.": ("Gelöscht: %(what)s.", "Supprimé : %(what)s."),
    "This link has expired.": ("Dieser Link ist abgelaufen.", "Ce lien a expiré."),
    "You are unsubscribed.": ("Sie sind abgemeldet.", "Vous êtes désabonné·e."),
    "We sent it moments ago. Please check your inbox, or try again in a few minutes.": (
        "Wir haben sie gerade erst gesendet. Bitte sehen Sie in Ihr Postfach oder versuchen Sie es in ein paar Minuten erneut.",
        "Nous venons de l’envoyer. Consultez votre boîte de réception ou réessayez dans quelques minutes.",
    ),
    "That request is more than 72 hours old. Tick the box again to ask anew.": (
        "Diese Anfrage ist älter als 72 Stunden. Setzen Sie das Häkchen erneut, um neu anzufragen.",
        "Cette demande date de plus de 72 heures. Cochez à nouveau la case pour la renouveler.",
    ),
    "We've sent the confirmation email again.": (
        "Wir haben die Bestätigungs-E-Mail erneut gesendet.",
        "Nous avons renvoyé l’e-mail de confirmation.",
    ),
    # --- base, 404, elements --------------------------------------------------------------------
    "Page not found": ("Seite nicht gefunden", "Page introuvable"),
    "There is no page at this address, or the link is not valid. If you followed a link from an email, copy the whole link into your browser, or use the link in a more recent email.": (
        "Unter dieser Adresse gibt es keine Seite, oder der Link ist ungültig. Wenn Sie einem Link aus einer "
        "E-Mail gefolgt sind, kopieren Sie den ganzen Link in Ihren Browser oder nutzen Sie den Link aus einer "
        "neueren E-Mail.",
        "Il n’y a pas de page à cette adresse, ou le lien n’est pas valide. Si vous avez suivi un lien reçu par "
        "e-mail, copiez le lien entier dans votre navigateur ou utilisez celui d’un e-mail plus récent.",
    ),
    "Skip to main content": ("Zum Inhalt springen", "Aller au contenu principal"),
    "%(name)s runs this page with Candor. It uses only the cookies it needs to work: one keeps you signed in for up to an hour, another protects its forms.": (
        "%(name)s betreibt diese Seite mit Candor. Sie verwendet nur die Cookies, die sie zum Funktionieren "
        "braucht: eines hält Sie bis zu einer Stunde angemeldet, ein anderes schützt die Formulare.",
        "%(name)s gère cette page avec Candor. Elle n’utilise que les cookies nécessaires à son fonctionnement : "
        "l’un vous garde connecté·e jusqu’à une heure, un autre protège ses formulaires.",
    ),
    "Privacy policy": ("Datenschutzerklärung", "Politique de confidentialité"),
    "Questions? Write to %(email)s": (
        "Fragen? Schreiben Sie an %(email)s",
        "Des questions ? Écrivez à %(email)s",
    ),
    "There is a problem": ("Es gibt ein Problem", "Il y a un problème"),
    "Error:": ("Fehler:", "Erreur :"),
    # --- emails ------------------------------------------------------------------------------
    "Hello,": ("Guten Tag,", "Bonjour,"),
    "Someone, hopefully you, asked %(brand)s to send this address the following by email:": (
        "Jemand, hoffentlich Sie, hat %(brand)s gebeten, an diese Adresse Folgendes per E-Mail zu senden:",
        "Quelqu’un, vous sans doute, a demandé à %(brand)s d’envoyer ceci par e-mail à cette adresse :",
    ),
    "Confirm “%(topic)s”": ("„%(topic)s“ bestätigen", "Confirmer « %(topic)s »"),
    "Open the link and press the button on the page to confirm. Each link works once, until %(expires)s (%(zone)s).": (
        "Öffnen Sie den Link und drücken Sie auf der Seite den Knopf, um zu bestätigen. Jeder Link funktioniert "
        "einmal, bis %(expires)s (%(zone)s).",
        "Ouvrez le lien et appuyez sur le bouton de la page pour confirmer. Chaque lien fonctionne une fois, "
        "jusqu’au %(expires)s (%(zone)s).",
    ),
    "If you did not ask for this, ignore this email: nothing will be sent to you.": (
        "Wenn Sie das nicht angefragt haben, ignorieren Sie diese E-Mail: Ihnen wird nichts gesendet.",
        "Si vous ne l’avez pas demandé, ignorez cet e-mail : rien ne vous sera envoyé.",
    ),
    "This email was sent by %(brand)s.": (
        "Diese E-Mail wurde von %(brand)s gesendet.",
        "Cet e-mail a été envoyé par %(brand)s.",
    ),
    "Questions about your data: %(brand_contact)s": (
        "Fragen zu Ihren Daten: %(brand_contact)s",
        "Questions sur vos données : %(brand_contact)s",
    ),
    "Please confirm your subscription to %(brand)s": (
        "Bitte bestätigen Sie Ihre Anmeldung bei %(brand)s",
        "Veuillez confirmer votre abonnement à %(brand)s",
    ),
    "Your link to your %(name)s preferences": (
        "Ihr Link zu Ihren Einstellungen bei %(name)s",
        "Votre lien vers vos préférences %(name)s",
    ),
    "You (or someone who typed your address) asked for a link to your preferences at %(name)s. Here it is:": (
        "Sie (oder jemand, der Ihre Adresse eingegeben hat) haben einen Link zu Ihren Einstellungen bei "
        "%(name)s angefordert. Hier ist er:",
        "Vous (ou quelqu’un qui a saisi votre adresse) avez demandé un lien vers vos préférences chez "
        "%(name)s. Le voici :",
    ),
    "Open my preferences": ("Meine Einstellungen öffnen", "Ouvrir mes préférences"),
    "Or copy this address into your browser:": (
        "Oder kopieren Sie diese Adresse in Ihren Browser:",
        "Ou copiez cette adresse dans votre navigateur :",
    ),
    "The link works for %(days)s day. Don't forward this email: anyone with the link can change your preferences.": (
        (
            "Der Link gilt %(days)s Tag. Leiten Sie diese E-Mail nicht weiter: Wer den Link hat, kann Ihre "
            "Einstellungen ändern.",
            "Der Link gilt %(days)s Tage. Leiten Sie diese E-Mail nicht weiter: Wer den Link hat, kann Ihre "
            "Einstellungen ändern.",
        ),
        (
            "Le lien est valable %(days)s jour. Ne transférez pas cet e-mail : toute personne ayant le lien "
            "peut modifier vos préférences.",
            "Le lien est valable %(days)s jours. Ne transférez pas cet e-mail : toute personne ayant le lien "
            "peut modifier vos préférences.",
        ),
    ),
    "Didn't ask for it? Ignore this email; nothing changes.": (
        "Nicht angefordert? Ignorieren Sie diese E-Mail; es ändert sich nichts.",
        "Vous ne l’avez pas demandé ? Ignorez cet e-mail ; rien ne change.",
    ),
    # --- pages ------------------------------------------------------------------------------
    "Email me a new link": ("Neuen Link per E-Mail senden", "M’envoyer un nouveau lien"),
    "Your preferences": ("Ihre Einstellungen", "Vos préférences"),
    "Sign out": ("Abmelden", "Se déconnecter"),
    "Choose what %(name)s sends you, on which channel and how often. Nothing here is ticked unless you chose it, and you can change your mind at any time.": (
        "Wählen Sie, was %(name)s Ihnen sendet, auf welchem Weg und wie oft. Hier ist nichts angekreuzt, was "
        "Sie nicht selbst gewählt haben, und Sie können es sich jederzeit anders überlegen.",
        "Choisissez ce que %(name)s vous envoie, par quel canal et à quelle fréquence. Rien n’est coché ici "
        "sans que vous l’ayez choisi, et vous pouvez changer d’avis à tout moment.",
    ),
    "On this page": ("Auf dieser Seite", "Sur cette page"),
    "What we send you": ("Was wir Ihnen senden", "Ce que nous vous envoyons"),
    "Other uses of your data": ("Weitere Nutzung Ihrer Daten", "Autres utilisations de vos données"),
    "Pause": ("Pausieren", "Pause"),
    "Unsubscribe from all": ("Alles abbestellen", "Se désabonner de tout"),
    "What you've told us": ("Was Sie uns gesagt haben", "Ce que vous nous avez dit"),
    "Your data": ("Ihre Daten", "Vos données"),
    "Opt-out preference signal honoured: your browser asked us not to sell or share your personal data, and we have recorded that.": (
        "Opt-out-Präferenzsignal berücksichtigt: Ihr Browser hat uns gebeten, Ihre personenbezogenen Daten "
        "nicht zu verkaufen oder weiterzugeben, und wir haben das festgehalten.",
        "Signal de refus respecté : votre navigateur nous a demandé de ne pas vendre ni partager vos données "
        "personnelles, et nous l’avons enregistré.",
    ),
    "%(name)s has paused marketing messages to you until %(date)s.": (
        "%(name)s hat Werbenachrichten an Sie bis %(date)s pausiert.",
        "%(name)s a mis en pause ses messages marketing jusqu’au %(date)s.",
    ),
    "You've paused messages until %(date)s. Messages you need, like order updates, still arrive.": (
        "Sie haben Nachrichten bis %(date)s pausiert. Nachrichten, die Sie brauchen, etwa zu Bestellungen, "
        "kommen weiterhin.",
        "Vous avez mis les messages en pause jusqu’au %(date)s. Les messages nécessaires, comme le suivi de "
        "commande, arrivent toujours.",
    ),
    "You're unsubscribed from %(what)s. Tick a box below to hear from us there again.": (
        "Sie haben %(what)s abbestellt. Setzen Sie unten ein Häkchen, um dort wieder von uns zu hören.",
        "Vous êtes désabonné·e de %(what)s. Cochez une case ci-dessous pour recevoir à nouveau nos messages.",
    ),
    "Undo: subscribe me again as before (%(what)s)": (
        "Rückgängig: wieder anmelden wie zuvor (%(what)s)",
        "Annuler : me réabonner comme avant (%(what)s)",
    ),
    "Notice %(id)s, version %(version)s": (
        "Hinweis %(id)s, Version %(version)s",
        "Avis %(id)s, version %(version)s",
    ),
    "You have agreed to this. Untick every box below to withdraw.": (
        "Sie haben zugestimmt. Entfernen Sie alle Häkchen unten, um zu widerrufen.",
        "Vous avez accepté. Décochez toutes les cases ci-dessous pour retirer votre accord.",
    ),
    "You have not agreed to this. Ticking a box below means you agree to the text above.": (
        "Sie haben nicht zugestimmt. Mit einem Häkchen unten stimmen Sie dem Text oben zu.",
        "Vous n’avez pas donné votre accord. Cocher une case ci-dessous signifie que vous acceptez le texte ci-dessus.",
    ),
    "Waiting for you to confirm by the link we emailed you.": (
        "Wartet auf Ihre Bestätigung über den Link, den wir Ihnen gemailt haben.",
        "En attente de votre confirmation par le lien envoyé par e-mail.",
    ),
    "Send the email again": ("E-Mail erneut senden", "Renvoyer l’e-mail"),
    "Paused until %(date)s.": ("Pausiert bis %(date)s.", "En pause jusqu’au %(date)s."),
    "How often: %(channel)s": ("Wie oft: %(channel)s", "Fréquence : %(channel)s"),
    "There is nothing to choose here yet.": (
        "Hier gibt es noch nichts zu wählen.",
        "Il n’y a encore rien à choisir ici.",
    ),
    "Messages you need": ("Nachrichten, die Sie brauchen", "Messages nécessaires"),
    "These are part of what you bought or signed up for, so they can't be switched off.": (
        "Sie gehören zu dem, was Sie gekauft oder abgeschlossen haben, und lassen sich daher nicht abschalten.",
        "Ils font partie de ce que vous avez acheté ou souscrit : on ne peut donc pas les désactiver.",
    ),
    "not sent to you": ("wird Ihnen nicht gesendet", "ne vous est pas envoyé"),
    "Save my choices": ("Auswahl speichern", "Enregistrer mes choix"),
    "You have agreed to this.": ("Sie haben zugestimmt.", "Vous avez donné votre accord."),
    "Stop this": ("Beenden", "Arrêter"),
    "You said no to this.": ("Sie haben abgelehnt.", "Vous avez refusé."),
    "Your agreement to this has expired.": ("Ihre Zustimmung ist abgelaufen.", "Votre accord a expiré."),
    "You have not agreed to this.": ("Sie haben nicht zugestimmt.", "Vous n’avez pas donné votre accord."),
    "Allow this": ("Erlauben", "Autoriser"),
    "Resume now": ("Jetzt fortsetzen", "Reprendre maintenant"),
    "Need a break? Pause everything we send you, except messages you need, and it starts again by itself.": (
        "Brauchen Sie eine Pause? Pausieren Sie alles, was wir Ihnen senden, außer Nachrichten, die Sie "
        "brauchen. Danach geht es von selbst weiter.",
        "Besoin d’une pause ? Suspendez tout ce que nous vous envoyons, sauf les messages nécessaires ; "
        "les envois reprennent d’eux-mêmes.",
    ),
    "Stop every marketing message on a channel at once. You'll be asked to confirm, and you can undo it.": (
        "Beenden Sie alle Werbenachrichten auf einem Weg auf einmal. Sie werden um Bestätigung gebeten und "
        "können es rückgängig machen.",
        "Arrêtez d’un coup tous les messages marketing sur un canal. Une confirmation vous sera demandée, et "
        "vous pourrez annuler.",
    ),
    "Unsubscribe from %(what)s": ("%(what)s abbestellen", "Se désabonner de %(what)s"),
    "Everything %(name)s holds about you here, and why. Correct or delete any of it.": (
        "Alles, was %(name)s hier über Sie gespeichert hat, und warum. Korrigieren oder löschen Sie jede Angabe.",
        "Tout ce que %(name)s conserve ici à votre sujet, et pourquoi. Corrigez ou supprimez chaque élément.",
    ),
    "Not given": ("Nicht angegeben", "Non renseigné"),
    "Why we hold it: %(why)s": ("Warum wir es speichern: %(why)s", "Pourquoi nous le conservons : %(why)s"),
    'Correct <span class="visually-hidden">%(what)s</span>': (
        'Korrigieren<span class="visually-hidden">: %(what)s</span>',
        'Corriger<span class="visually-hidden"> : %(what)s</span>',
    ),
    'Add <span class="visually-hidden">%(what)s</span>': (
        'Hinzufügen<span class="visually-hidden">: %(what)s</span>',
        'Ajouter<span class="visually-hidden"> : %(what)s</span>',
    ),
    'Delete <span class="visually-hidden">%(what)s</span>': (
        'Löschen<span class="visually-hidden">: %(what)s</span>',
        'Supprimer<span class="visually-hidden"> : %(what)s</span>',
    ),
    "Your quiz answers": ("Ihre Quiz-Antworten", "Vos réponses aux quiz"),
    "Answers you give in our quizzes will appear here, with what each is used for.": (
        "Antworten aus unseren Quiz erscheinen hier, jeweils mit ihrem Verwendungszweck.",
        "Les réponses que vous donnez à nos quiz apparaîtront ici, avec l’usage de chacune.",
    ),
    "A file with everything above and every consent decision you have made, with the exact text you were shown.": (
        "Eine Datei mit allem oben und jeder Ihrer Einwilligungsentscheidungen, mit dem genauen Text, der Ihnen "
        "gezeigt wurde.",
        "Un fichier avec tout ce qui précède et chacune de vos décisions de consentement, avec le texte exact "
        "qui vous a été présenté.",
    ),
    "Download my data": ("Meine Daten herunterladen", "Télécharger mes données"),
    "Delete your data: your profile and choices are deleted; we keep only a coded record that you decided, which no longer names you.": (
        "Ihre Daten löschen: Ihr Profil und Ihre Auswahl werden gelöscht; wir behalten nur einen verschlüsselten "
        "Nachweis Ihrer Entscheidungen, der Sie nicht mehr nennt.",
        "Supprimer vos données : votre profil et vos choix sont supprimés ; nous ne gardons qu’une trace codée "
        "de vos décisions, qui ne vous nomme plus.",
    ),
    "Delete my data": ("Meine Daten löschen", "Supprimer mes données"),
    "Confirm your subscription": ("Anmeldung bestätigen", "Confirmer votre abonnement"),
    "You asked %(name)s to send you:": (
        "Sie haben %(name)s gebeten, Ihnen zu senden:",
        "Vous avez demandé à %(name)s de vous envoyer :",
    ),
    "Yes, subscribe me": ("Ja, anmelden", "Oui, m’abonner"),
    "Didn't ask for this? Do nothing: nothing will be sent.": (
        "Nicht angefragt? Tun Sie nichts: Es wird nichts gesendet.",
        "Vous ne l’avez pas demandé ? Ne faites rien : rien ne sera envoyé.",
    ),
    "Nothing to confirm": ("Nichts zu bestätigen", "Rien à confirmer"),
    "Thank you": ("Vielen Dank", "Merci"),
    "This link has been used already, or what it confirms has changed since.": (
        "Dieser Link wurde bereits verwendet, oder das Bestätigte hat sich inzwischen geändert.",
        "Ce lien a déjà été utilisé, ou ce qu’il confirme a changé depuis.",
    ),
    "You're subscribed. You can change this at any time from the link in every email.": (
        "Sie sind angemeldet. Über den Link in jeder E-Mail können Sie das jederzeit ändern.",
        "Vous êtes abonné·e. Vous pouvez le modifier à tout moment grâce au lien présent dans chaque e-mail.",
    ),
    "Manage all your preferences": ("Alle Einstellungen verwalten", "Gérer toutes vos préférences"),
    "Delete your data?": ("Ihre Daten löschen?", "Supprimer vos données ?"),
    "This deletes what %(name)s holds about you here:": (
        "Damit wird gelöscht, was %(name)s hier über Sie gespeichert hat:",
        "Cela supprime ce que %(name)s conserve ici à votre sujet :",
    ),
    "your email address, phone number, language, time zone and country": (
        "Ihre E-Mail-Adresse, Telefonnummer, Sprache, Zeitzone und Ihr Land",
        "votre adresse e-mail, votre numéro de téléphone, votre langue, votre fuseau horaire et votre pays",
    ),
    "your subscriptions, pauses and quiz answers": (
        "Ihre Abonnements, Pausen und Quiz-Antworten",
        "vos abonnements, vos pauses et vos réponses aux quiz",
    ),
    "Every consent you gave is withdrawn first. We keep a record that decisions were made, under a code that no longer names you, because the law asks us to be able to prove them; and we keep a coded entry of your address so that it isn't added back for marketing by mistake.": (
        "Zuerst wird jede Einwilligung widerrufen. Wir behalten einen Nachweis, dass Entscheidungen getroffen "
        "wurden, unter einem Code, der Sie nicht mehr nennt, weil wir sie nach dem Gesetz belegen können müssen; "
        "und wir behalten einen verschlüsselten Eintrag Ihrer Adresse, damit sie nicht versehentlich wieder für "
        "Werbung hinzugefügt wird.",
        "Chaque consentement donné est d’abord retiré. Nous conservons une trace des décisions prises, sous un "
        "code qui ne vous nomme plus, car la loi nous demande de pouvoir les prouver ; et nous gardons une "
        "entrée codée de votre adresse pour qu’elle ne soit pas réajoutée par erreur à des fins de prospection.",
    ),
    "This can't be undone. Download your data first if you want a copy.": (
        "Das lässt sich nicht rückgängig machen. Laden Sie vorher Ihre Daten herunter, wenn Sie eine Kopie möchten.",
        "Cette action est définitive. Téléchargez d’abord vos données si vous en voulez une copie.",
    ),
    "Yes, delete my data": ("Ja, meine Daten löschen", "Oui, supprimer mes données"),
    "No, go back to my preferences": (
        "Nein, zurück zu meinen Einstellungen",
        "Non, revenir à mes préférences",
    ),
    "Your data is deleted": ("Ihre Daten sind gelöscht", "Vos données sont supprimées"),
    "%(name)s won't send you marketing messages any more. Links in older emails no longer open your preferences.": (
        "%(name)s sendet Ihnen keine Werbenachrichten mehr. Links in älteren E-Mails öffnen Ihre Einstellungen "
        "nicht mehr.",
        "%(name)s ne vous enverra plus de messages marketing. Les liens des anciens e-mails n’ouvrent plus vos "
        "préférences.",
    ),
    "Save": ("Speichern", "Enregistrer"),
    "Cancel": ("Abbrechen", "Annuler"),
    "This link has expired": ("Dieser Link ist abgelaufen", "Ce lien a expiré"),
    "To keep your choices private, links to your preferences work for a limited time. We can email you a new one.": (
        "Damit Ihre Auswahl privat bleibt, gelten Links zu Ihren Einstellungen nur für begrenzte Zeit. Wir "
        "können Ihnen einen neuen mailen.",
        "Pour garder vos choix privés, les liens vers vos préférences ont une durée limitée. Nous pouvons vous "
        "en envoyer un nouveau.",
    ),
    "Confirmation links work for 72 hours. Nothing was subscribed. Open your preferences to ask again; we'll send a new confirmation.": (
        "Bestätigungslinks gelten 72 Stunden. Es wurde nichts angemeldet. Öffnen Sie Ihre Einstellungen, um "
        "erneut anzufragen; wir senden eine neue Bestätigung.",
        "Les liens de confirmation sont valables 72 heures. Aucun abonnement n’a été pris. Ouvrez vos "
        "préférences pour refaire la demande ; nous enverrons une nouvelle confirmation.",
    ),
    "This unsubscribe link is too old to use by itself. You can still unsubscribe below, or get a link to all your preferences.": (
        "Dieser Abmeldelink ist zu alt, um allein zu wirken. Sie können sich unten trotzdem abmelden oder einen "
        "Link zu allen Einstellungen anfordern.",
        "Ce lien de désabonnement est trop ancien pour fonctionner seul. Vous pouvez quand même vous "
        "désabonner ci-dessous, ou obtenir un lien vers toutes vos préférences.",
    ),
    "Just want the emails to stop?": (
        "Sollen einfach keine E-Mails mehr kommen?",
        "Vous voulez simplement ne plus recevoir d’e-mails ?",
    ),
    "Unsubscribe from all emails": ("Alle E-Mails abbestellen", "Se désabonner de tous les e-mails"),
    "Unsubscribe": ("Abbestellen", "Se désabonner"),
    "Get a new link": ("Neuen Link anfordern", "Obtenir un nouveau lien"),
    "Enter your email address and we'll send you a link to your preferences.": (
        "Geben Sie Ihre E-Mail-Adresse ein, und wir senden Ihnen einen Link zu Ihren Einstellungen.",
        "Saisissez votre adresse e-mail et nous vous enverrons un lien vers vos préférences.",
    ),
    "Check your inbox": ("Sehen Sie in Ihr Postfach", "Consultez votre boîte de réception"),
    "If that address is one we know, we have just sent it a link to your preferences. It can take a few minutes to arrive; look in your spam folder too.": (
        "Wenn wir diese Adresse kennen, haben wir gerade einen Link zu Ihren Einstellungen dorthin gesendet. "
        "Es kann einige Minuten dauern; sehen Sie auch im Spam-Ordner nach.",
        "Si nous connaissons cette adresse, nous venons d’y envoyer un lien vers vos préférences. Il peut "
        "mettre quelques minutes à arriver ; regardez aussi dans vos indésirables.",
    ),
    "Nothing arrived? The address may be different from the one we have. You can try another address.": (
        "Nichts angekommen? Vielleicht haben wir eine andere Adresse von Ihnen. Sie können eine andere Adresse "
        "versuchen.",
        "Rien reçu ? L’adresse est peut-être différente de celle que nous avons. Vous pouvez en essayer une autre.",
    ),
    "Try another address": ("Andere Adresse versuchen", "Essayer une autre adresse"),
    "Unsubscribe from “%(topic)s” (%(channel)s)?": (
        "„%(topic)s“ abbestellen (%(channel)s)?",
        "Se désabonner de « %(topic)s » (%(channel)s) ?",
    ),
    "Unsubscribe from %(what)s?": ("%(what)s abbestellen?", "Se désabonner de %(what)s ?"),
    "You are already unsubscribed from this. Nothing more is needed.": (
        "Sie sind hiervon bereits abgemeldet. Mehr ist nicht nötig.",
        "Vous êtes déjà désabonné·e. Rien d’autre n’est nécessaire.",
    ),
    "Open your preferences": ("Ihre Einstellungen öffnen", "Ouvrir vos préférences"),
    "To keep your choices private, this page opens from the link in an email from %(name)s, and stays open for an hour. Use that link again, or we can email you a new one.": (
        "Damit Ihre Auswahl privat bleibt, öffnet sich diese Seite über den Link in einer E-Mail von %(name)s "
        "und bleibt eine Stunde lang offen. Nutzen Sie den Link erneut, oder wir mailen Ihnen einen neuen.",
        "Pour garder vos choix privés, cette page s’ouvre depuis le lien d’un e-mail de %(name)s et reste "
        "ouverte une heure. Utilisez à nouveau ce lien, ou nous pouvons vous en envoyer un nouveau.",
    ),
    "Too many attempts": ("Zu viele Versuche", "Trop de tentatives"),
    "Please wait %(seconds)s second, then try again.": (
        (
            "Bitte warten Sie %(seconds)s Sekunde und versuchen Sie es dann erneut.",
            "Bitte warten Sie %(seconds)s Sekunden und versuchen Sie es dann erneut.",
        ),
        (
            "Veuillez patienter %(seconds)s seconde, puis réessayer.",
            "Veuillez patienter %(seconds)s secondes, puis réessayer.",
        ),
    ),
    "This stops:": ("Damit endet:", "Cela arrête :"),
    "You're not subscribed to anything there right now; this also keeps it that way.": (
        "Sie haben dort gerade nichts abonniert; so bleibt es auch.",
        "Vous n’y êtes abonné·e à rien pour l’instant ; cela restera ainsi.",
    ),
    "Messages you need, like order updates, still arrive. You can undo this afterwards.": (
        "Nachrichten, die Sie brauchen, etwa zu Bestellungen, kommen weiterhin. Sie können das danach "
        "rückgängig machen.",
        "Les messages nécessaires, comme le suivi de commande, arrivent toujours. Vous pourrez annuler ensuite.",
    ),
    "Yes, unsubscribe me from %(what)s": ("Ja, %(what)s abbestellen", "Oui, me désabonner de %(what)s"),
    "Done": ("Erledigt", "C’est fait"),
    "“%(topic)s” is paused until %(date)s, then starts again as before.": (
        "„%(topic)s“ ist bis %(date)s pausiert und geht dann weiter wie zuvor.",
        "« %(topic)s » est en pause jusqu’au %(date)s, puis reprend comme avant.",
    ),
    "You're still unsubscribed": ("Sie bleiben abgemeldet", "Vous restez désabonné·e"),
    "Nothing else has changed.": ("Sonst hat sich nichts geändert.", "Rien d’autre n’a changé."),
    "Please confirm by the link we're emailing you before anything is sent.": (
        "Bitte bestätigen Sie über den Link, den wir Ihnen gerade mailen, bevor etwas gesendet wird.",
        "Veuillez confirmer avec le lien que nous vous envoyons par e-mail avant tout envoi.",
    ),
    "You're unsubscribed": ("Sie sind abgemeldet", "Vous êtes désabonné·e"),
    "%(name)s won't send you marketing by this channel (%(channel)s) any more. Messages you need, like order confirmations, still arrive.": (
        "%(name)s sendet Ihnen auf diesem Weg (%(channel)s) keine Werbung mehr. Nachrichten, die Sie brauchen, "
        "etwa Bestellbestätigungen, kommen weiterhin.",
        "%(name)s ne vous enverra plus de marketing par ce canal (%(channel)s). Les messages nécessaires, comme "
        "les confirmations de commande, arrivent toujours.",
    ),
    "You won't get “%(topic)s” from %(name)s any more (%(channel)s).": (
        "Sie erhalten „%(topic)s“ von %(name)s nicht mehr (%(channel)s).",
        "Vous ne recevrez plus « %(topic)s » de %(name)s (%(channel)s).",
    ),
    "Or would you rather hear from us less?": (
        "Oder lieber seltener von uns hören?",
        "Ou préférez-vous avoir de nos nouvelles moins souvent ?",
    ),
    "Only if you want to. Staying unsubscribed is fine.": (
        "Nur wenn Sie möchten. Abgemeldet zu bleiben ist völlig in Ordnung.",
        "Seulement si vous le souhaitez. Rester désabonné·e, c’est très bien aussi.",
    ),
    "Pause for %(weeks)s week instead": (
        ("Stattdessen %(weeks)s Woche pausieren", "Stattdessen %(weeks)s Wochen pausieren"),
        ("Plutôt une pause de %(weeks)s semaine", "Plutôt une pause de %(weeks)s semaines"),
    ),
    "Stay unsubscribed": ("Abgemeldet bleiben", "Rester désabonné·e"),
    "Choosing a digest or a pause means you agree to the text above again.": (
        "Mit einer Zusammenfassung oder einer Pause stimmen Sie dem Text oben erneut zu.",
        "Choisir un résumé ou une pause signifie que vous acceptez à nouveau le texte ci-dessus.",
    ),
}

HEADER = {
    "de": ("Deutsch", "nplurals=2; plural=(n != 1);"),
    "fr": ("Français", "nplurals=2; plural=(n > 1);"),
}


_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def _unquote(line: str) -> str:
    body = line[line.index('"') + 1 : line.rindex('"')]
    return re.sub(r"\\(.)", lambda match: _ESCAPES.get(match.group(1), match.group(1)), body)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _po_string(keyword: str, text: str) -> list[str]:
    if len(text) < 70 and "\n" not in text:
        return [f"{keyword} {_quote(text)}"]
    lines = [f'{keyword} ""']
    words = re.findall(r"\S+\s*", text)
    current = ""
    for word in words:
        if len(current) + len(word) > 76 and current:
            lines.append(_quote(current))
            current = ""
        current += word
    if current:
        lines.append(_quote(current))
    return lines


def fill(language: str) -> list[str]:
    path = HERE / language / "LC_MESSAGES" / "django.po"
    blocks = path.read_text(encoding="utf-8").strip().split("\n\n")
    out: list[str] = []
    missing: list[str] = []
    index = 0 if language == "de" else 1
    for number, block in enumerate(blocks):
        lines = block.splitlines()
        comments = [line for line in lines if line.startswith("#")]
        fields: dict[str, str] = {}
        key = None
        for line in lines:
            if line.startswith("#"):
                continue
            match = re.match(r'^(msgid_plural|msgid|msgstr(?:\[\d\])?) "', line)
            if match:
                key = match.group(1)
                fields[key] = _unquote(line)
            elif line.startswith('"') and key:
                fields[key] += _unquote(line)
        msgid = fields.get("msgid", "")
        if number == 0 and msgid == "":
            name, plural = HEADER[language]
            header = fields["msgstr"]
            header = re.sub(r"Language: [^\n]*\n", f"Language: {language}\n", header)
            header = re.sub(r"Plural-Forms: [^\n]*\n", f"Plural-Forms: {plural}\n", header)
            header = re.sub(r"Language-Team: [^\n]*\n", f"Language-Team: {name}\n", header)
            header = re.sub(
                r"Last-Translator: [^\n]*\n", "Last-Translator: Candor <no-reply@localhost>\n", header
            )
            header = re.sub(
                r"PO-Revision-Date: [^\n]*\n", "PO-Revision-Date: 2026-11-23 12:00+0000\n", header
            )
            header = re.sub(r"Project-Id-Version: [^\n]*\n", "Project-Id-Version: Candor\n", header)
            head = [f"# {name}: Candor's hosted pages and emails. Filled by locale/translate.py."]
            out.append(
                "\n".join(
                    [
                        *head,
                        'msgid ""',
                        'msgstr ""',
                        *[_quote(part) for part in re.findall(r"[^\n]*\n", header)],
                    ]
                )
            )
            continue
        entry = T.get(msgid)
        flags = [c for c in comments if c.startswith("#,")]
        refs = [c for c in comments if not c.startswith("#,")]
        flags = [f.replace("fuzzy, ", "").replace(", fuzzy", "") for f in flags if f.strip() != "#, fuzzy"]
        body = [*refs, *flags, *_po_string("msgid", msgid)]
        if "msgid_plural" in fields:
            body += _po_string("msgid_plural", fields["msgid_plural"])
            forms = entry[index] if entry else ("", "")
            assert isinstance(forms, tuple), msgid
            for n, form in enumerate(forms):
                body += _po_string(f"msgstr[{n}]", form)
        else:
            text = entry[index] if entry else ""
            assert isinstance(text, str), msgid
            body += _po_string("msgstr", text)
        if entry is None:
            missing.append(msgid)
        out.append("\n".join(body))
    path.write_text("\n\n".join(out) + "\n", encoding="utf-8")
    return missing


if __name__ == "__main__":
    status = 0
    for language in ("de", "fr"):
        missing = fill(language)
        for msgid in missing:
            print(f"{language}: no translation for {msgid!r}")
            status = 1
    sys.exit(status)
