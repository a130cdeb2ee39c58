"""The console's pages, one module per area. Each page declares who may use it (console.access)
and stays thin: parse, call one service, answer. Every page works as a full page load; with htmx
(request.htmx) a form's answer is the fragment it replaces."""
