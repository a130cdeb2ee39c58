from django.apps import AppConfig


class QuizzesConfig(AppConfig):
    name = "quizzes"
    verbose_name = "Quizzes"

    def ready(self) -> None:
        # Consent sits below quizzes and cannot import it: the ledger's write path calls this
        # when a purpose's consent stops, and the preference centre shows the quiz answers.
        from django.db.models.signals import post_delete, post_save

        from brands.models import Brand
        from consent.hooks import consent_stopped_register
        from preferences.centre_parts import centre_part_register
        from quizzes.models import Quiz
        from quizzes.page_selectors import quiz_live_changed
        from quizzes.statements import traits_forget_on_consent_stopped
        from quizzes.told_us import centre_answers

        consent_stopped_register(traits_forget_on_consent_stopped)
        centre_part_register(centre_answers)
        # The quiz page keeps the quiz's and the brand's row for a few seconds per process: a
        # change saved here shows at once in this process.
        for model in (Quiz, Brand):
            for signal in (post_save, post_delete):
                signal.connect(quiz_live_changed, sender=model, dispatch_uid=f"quiz-live-{model.__name__}")
