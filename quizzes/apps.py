from django.apps import AppConfig


class QuizzesConfig(AppConfig):
    name = "quizzes"
    verbose_name = "Quizzes"

    def ready(self) -> None:
        # Consent sits below quizzes and cannot import it: the ledger's write path calls this
        # when a purpose's consent stops, and the preference centre shows the quiz answers.
        from consent.hooks import consent_stopped_register
        from preferences.centre_parts import centre_part_register
        from quizzes.statements import traits_forget_on_consent_stopped
        from quizzes.told_us import centre_answers

        consent_stopped_register(traits_forget_on_consent_stopped)
        centre_part_register(centre_answers)
