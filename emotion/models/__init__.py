"""The emotion models: prosody, vocal burst, language and the audio embedding (one module each)."""
