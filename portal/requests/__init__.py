"""Data-subject requests: filing, statuses and their timeline, legal deadlines, the erasure waiting
period and its automatic run, staff reminders, and the queue the back-office reads."""
