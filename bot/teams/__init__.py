"""Teams and their people: /samen help, rol, instellingen, afwezig, status, open; the teams file;
time zones; start links; a person's overview (App Home)."""
