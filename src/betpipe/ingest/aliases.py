"""Built-in team-name aliases: The Odds API's full names mapped to the names our authoritative sources use.

Canonical names are football-data.co.uk's short names for soccer and nflverse's team codes for the NFL, because
those sources create the teams; live feeds only look names up. ``seed_aliases`` is idempotent and never re-points an
alias someone already stored (a hand-made correction wins over the built-in list).
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Connection, insert, select

from betpipe.db.schema import team_aliases, teams

ALIAS_SOURCE = "builtin"

# canonical (football-data) name -> other spellings seen in The Odds API and elsewhere
SOCCER: dict[str, tuple[str, ...]] = {
    # England: Premier League and Championship (E0, E1)
    "Arsenal": (),
    "Aston Villa": (),
    "Barnsley": (),
    "Birmingham": ("Birmingham City",),
    "Blackburn": ("Blackburn Rovers",),
    "Blackpool": (),
    "Bolton": ("Bolton Wanderers",),
    "Bournemouth": ("AFC Bournemouth",),
    "Brentford": (),
    "Brighton": ("Brighton and Hove Albion", "Brighton & Hove Albion"),
    "Bristol City": (),
    "Burnley": (),
    "Burton": ("Burton Albion",),
    "Cardiff": ("Cardiff City",),
    "Charlton": ("Charlton Athletic",),
    "Chelsea": (),
    "Coventry": ("Coventry City",),
    "Crystal Palace": (),
    "Derby": ("Derby County",),
    "Everton": (),
    "Fulham": (),
    "Huddersfield": ("Huddersfield Town",),
    "Hull": ("Hull City",),
    "Ipswich": ("Ipswich Town",),
    "Leeds": ("Leeds United",),
    "Leicester": ("Leicester City",),
    "Liverpool": (),
    "Luton": ("Luton Town",),
    "Man City": ("Manchester City",),
    "Man United": ("Manchester United",),
    "Middlesbrough": (),
    "Millwall": (),
    "Milton Keynes Dons": ("MK Dons",),
    "Newcastle": ("Newcastle United",),
    "Norwich": ("Norwich City",),
    "Nott'm Forest": ("Nottingham Forest",),
    "Oxford": ("Oxford United",),
    "Peterboro": ("Peterborough United",),
    "Plymouth": ("Plymouth Argyle",),
    "Portsmouth": (),
    "Preston": ("Preston North End",),
    "QPR": ("Queens Park Rangers",),
    "Reading": (),
    "Rotherham": ("Rotherham United",),
    "Sheffield United": (),
    "Sheffield Weds": ("Sheffield Wednesday",),
    "Southampton": (),
    "Stoke": ("Stoke City",),
    "Sunderland": (),
    "Swansea": ("Swansea City",),
    "Tottenham": ("Tottenham Hotspur",),
    "Watford": (),
    "West Brom": ("West Bromwich Albion",),
    "West Ham": ("West Ham United",),
    "Wigan": ("Wigan Athletic",),
    "Wolves": ("Wolverhampton Wanderers",),
    # Spain: La Liga (SP1)
    "Alaves": ("Alavés", "Deportivo Alavés"),
    "Almeria": ("Almería", "UD Almería"),
    "Ath Bilbao": ("Athletic Bilbao", "Athletic Club"),
    "Ath Madrid": ("Atlético Madrid", "Atletico Madrid"),
    "Barcelona": ("FC Barcelona",),
    "Betis": ("Real Betis",),
    "Cadiz": ("Cádiz CF", "Cadiz CF", "Cádiz"),
    "Celta": ("Celta Vigo",),
    "Eibar": ("SD Eibar",),
    "Elche": ("Elche CF",),
    "Espanol": ("Espanyol", "RCD Espanyol"),
    "Getafe": ("Getafe CF",),
    "Girona": ("Girona FC",),
    "Granada": ("Granada CF",),
    "Huesca": ("SD Huesca",),
    "La Coruna": ("Deportivo La Coruña", "Deportivo La Coruna"),
    "Las Palmas": ("UD Las Palmas",),
    "Leganes": ("CD Leganés", "Leganés", "CD Leganes"),
    "Levante": ("Levante UD",),
    "Malaga": ("Málaga", "Malaga CF"),
    "Mallorca": ("RCD Mallorca",),
    "Osasuna": ("CA Osasuna",),
    "Oviedo": ("Real Oviedo",),
    "Real Madrid": (),
    "Sevilla": ("Sevilla FC",),
    "Sociedad": ("Real Sociedad",),
    "Sp Gijon": ("Sporting Gijón", "Sporting Gijon"),
    "Valencia": ("Valencia CF",),
    "Valladolid": ("Real Valladolid",),
    "Vallecano": ("Rayo Vallecano",),
    "Villarreal": ("Villarreal CF",),
    # Germany: Bundesliga (D1)
    "Augsburg": ("FC Augsburg",),
    "Bayern Munich": ("Bayern München", "FC Bayern München"),
    "Bielefeld": ("Arminia Bielefeld",),
    "Bochum": ("VfL Bochum",),
    "Darmstadt": ("SV Darmstadt 98",),
    "Dortmund": ("Borussia Dortmund",),
    "Ein Frankfurt": ("Eintracht Frankfurt",),
    "FC Koln": ("1. FC Köln", "FC Köln", "FC Cologne"),
    "Fortuna Dusseldorf": ("Fortuna Düsseldorf",),
    "Freiburg": ("SC Freiburg",),
    "Greuther Furth": ("Greuther Fürth", "SpVgg Greuther Fürth"),
    "Hamburg": ("Hamburger SV",),
    "Hannover": ("Hannover 96",),
    "Heidenheim": ("1. FC Heidenheim", "FC Heidenheim"),
    "Hertha": ("Hertha Berlin", "Hertha BSC"),
    "Hoffenheim": ("TSG Hoffenheim", "TSG 1899 Hoffenheim"),
    "Holstein Kiel": (),
    "Ingolstadt": ("FC Ingolstadt 04",),
    "Leverkusen": ("Bayer Leverkusen",),
    "M'gladbach": ("Borussia Monchengladbach", "Borussia Mönchengladbach"),
    "Mainz": ("FSV Mainz 05", "1. FSV Mainz 05", "Mainz 05"),
    "Nurnberg": ("1. FC Nürnberg", "FC Nurnberg"),
    "Paderborn": ("SC Paderborn", "SC Paderborn 07"),
    "RB Leipzig": (),
    "Schalke 04": ("FC Schalke 04",),
    "St Pauli": ("FC St. Pauli", "St. Pauli"),
    "Stuttgart": ("VfB Stuttgart",),
    "Union Berlin": ("1. FC Union Berlin",),
    "Werder Bremen": ("SV Werder Bremen",),
    "Wolfsburg": ("VfL Wolfsburg",),
    # Italy: Serie A (I1)
    "Atalanta": ("Atalanta BC",),
    "Benevento": (),
    "Bologna": (),
    "Brescia": (),
    "Cagliari": (),
    "Carpi": (),
    "Chievo": ("Chievo Verona",),
    "Como": (),
    "Cremonese": (),
    "Crotone": (),
    "Empoli": (),
    "Fiorentina": (),
    "Frosinone": (),
    "Genoa": (),
    "Inter": ("Inter Milan", "Internazionale"),
    "Juventus": (),
    "Lazio": (),
    "Lecce": (),
    "Milan": ("AC Milan",),
    "Monza": (),
    "Napoli": (),
    "Palermo": (),
    "Parma": ("Parma Calcio",),
    "Pescara": (),
    "Pisa": (),
    "Roma": ("AS Roma",),
    "Salernitana": (),
    "Sampdoria": (),
    "Sassuolo": (),
    "Spal": ("SPAL",),
    "Spezia": ("Spezia Calcio",),
    "Torino": (),
    "Udinese": (),
    "Venezia": (),
    "Verona": ("Hellas Verona", "Hellas Verona FC"),
    # France: Ligue 1 (F1)
    "Ajaccio": ("AC Ajaccio",),
    "Amiens": ("Amiens SC",),
    "Angers": ("Angers SCO",),
    "Auxerre": ("AJ Auxerre",),
    "Bastia": ("SC Bastia",),
    "Bordeaux": ("Girondins Bordeaux",),
    "Brest": ("Stade Brestois 29", "Stade Brestois"),
    "Caen": ("SM Caen",),
    "Clermont": ("Clermont Foot",),
    "Dijon": ("Dijon FCO",),
    "Guingamp": ("EA Guingamp",),
    "Le Havre": ("Le Havre AC",),
    "Lens": ("RC Lens",),
    "Lille": ("Lille OSC", "LOSC Lille"),
    "Lorient": ("FC Lorient",),
    "Lyon": ("Olympique Lyonnais",),
    "Marseille": ("Olympique Marseille", "Olympique de Marseille"),
    "Metz": ("FC Metz",),
    "Monaco": ("AS Monaco",),
    "Montpellier": ("Montpellier HSC",),
    "Nancy": ("AS Nancy",),
    "Nantes": ("FC Nantes",),
    "Nice": ("OGC Nice",),
    "Nimes": ("Nîmes", "Nimes Olympique"),
    "Paris FC": (),
    "Paris SG": ("Paris Saint Germain", "Paris Saint-Germain", "PSG"),
    "Reims": ("Stade de Reims",),
    "Rennes": ("Stade Rennais", "Stade Rennais FC"),
    "St Etienne": ("Saint Etienne", "AS Saint-Étienne", "Saint-Etienne"),
    "Strasbourg": ("RC Strasbourg", "RC Strasbourg Alsace"),
    "Toulouse": ("Toulouse FC",),
    "Troyes": ("ESTAC Troyes",),
}

# canonical nflverse code -> full names (including pre-relocation names) and old codes
NFL: dict[str, tuple[str, ...]] = {
    "ARI": ("Arizona Cardinals",),
    "ATL": ("Atlanta Falcons",),
    "BAL": ("Baltimore Ravens",),
    "BUF": ("Buffalo Bills",),
    "CAR": ("Carolina Panthers",),
    "CHI": ("Chicago Bears",),
    "CIN": ("Cincinnati Bengals",),
    "CLE": ("Cleveland Browns",),
    "DAL": ("Dallas Cowboys",),
    "DEN": ("Denver Broncos",),
    "DET": ("Detroit Lions",),
    "GB": ("Green Bay Packers",),
    "HOU": ("Houston Texans",),
    "IND": ("Indianapolis Colts",),
    "JAX": ("Jacksonville Jaguars",),
    "KC": ("Kansas City Chiefs",),
    "LA": ("Los Angeles Rams", "St. Louis Rams", "St Louis Rams", "STL"),
    "LAC": ("Los Angeles Chargers", "San Diego Chargers", "SD"),
    "LV": ("Las Vegas Raiders", "Oakland Raiders", "OAK"),
    "MIA": ("Miami Dolphins",),
    "MIN": ("Minnesota Vikings",),
    "NE": ("New England Patriots",),
    "NO": ("New Orleans Saints",),
    "NYG": ("New York Giants",),
    "NYJ": ("New York Jets",),
    "PHI": ("Philadelphia Eagles",),
    "PIT": ("Pittsburgh Steelers",),
    "SEA": ("Seattle Seahawks",),
    "SF": ("San Francisco 49ers",),
    "TB": ("Tampa Bay Buccaneers",),
    "TEN": ("Tennessee Titans",),
    "WAS": ("Washington Commanders", "Washington Football Team", "Washington Redskins"),
}

BUILTIN: dict[str, dict[str, tuple[str, ...]]] = {"soccer": SOCCER, "american_football": NFL}


def canonical_name(sport: str, name: str) -> str:
    """The canonical team name for a known spelling, else the name unchanged."""
    return _LOOKUP.get(sport, {}).get(name, name)


_LOOKUP: dict[str, dict[str, str]] = {
    sport: {alias: canonical for canonical, aliases in table.items() for alias in (canonical, *aliases)}
    for sport, table in BUILTIN.items()
}


def seed_aliases(conn: Connection, tables: Mapping[str, Mapping[str, tuple[str, ...]]] = BUILTIN) -> int:
    """Store the built-in aliases (creating canonical teams that do not exist yet); returns how many were added."""
    existing: dict[tuple[str, str], int] = {
        (row.sport, row.alias): int(row.team_id)
        for row in conn.execute(select(team_aliases.c.sport, team_aliases.c.alias, team_aliases.c.team_id))
    }
    team_ids: dict[tuple[str, str], int] = {
        (row.sport, row.name): int(row.id) for row in conn.execute(select(teams.c.sport, teams.c.name, teams.c.id))
    }
    new_rows: list[dict[str, object]] = []
    for sport, table in tables.items():
        for canonical, aliases in table.items():
            team_id = existing.get((sport, canonical)) or team_ids.get((sport, canonical))
            if team_id is None:
                team_id = int(conn.execute(insert(teams).values(sport=sport, name=canonical)).inserted_primary_key[0])  # type: ignore[index]
                team_ids[(sport, canonical)] = team_id
            for alias in (canonical, *aliases):
                if (sport, alias) not in existing:
                    existing[(sport, alias)] = team_id
                    new_rows.append({"sport": sport, "alias": alias, "team_id": team_id, "source": ALIAS_SOURCE})
    if new_rows:
        conn.execute(insert(team_aliases), new_rows)
    return len(new_rows)
