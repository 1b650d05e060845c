"""Training and evaluation of the taggers (imports torch only inside fine-tuning)."""
